/** Big-set file edits as deltas through a spawned nft (`run --nft`, the fallback): the same tests (bigset-edits-suite.ts). */
import { bigsetEditsSuite } from "./bigset-edits-suite";

bigsetEditsSuite("spawn");
