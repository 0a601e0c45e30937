/** The delta engine through a spawned nft (HOSTWALL_NFT_BACKEND=spawn): the fallback passes the same tests (engine-suite.ts). */
import { engineSuite } from "./engine-suite";

engineSuite("spawn");
