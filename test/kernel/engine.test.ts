/** The delta engine through libnftables in-process (engine-suite.ts). */
import { engineSuite } from "./engine-suite";

engineSuite("libnftables");
