/** Big-set file edits as deltas through libnftables in-process (bigset-edits-suite.ts). */
import { bigsetEditsSuite } from "./bigset-edits-suite";

bigsetEditsSuite("libnftables");
