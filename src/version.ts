/** Build info, baked in by `bun build --define` (scripts/build.ts); "dev" when run from source. */
declare const BUILD_VERSION: string | undefined;
declare const BUILD_COMMIT: string | undefined;
declare const BUILD_SOURCE_HASH: string | undefined;

export const VERSION = typeof BUILD_VERSION !== "undefined" ? BUILD_VERSION : "dev";
export const COMMIT = typeof BUILD_COMMIT !== "undefined" ? BUILD_COMMIT : "unknown";
/** Hash of the source the binary was built from (scripts/source-hash.ts); tests compare it with the tree. */
export const SOURCE_HASH = typeof BUILD_SOURCE_HASH !== "undefined" ? BUILD_SOURCE_HASH : "unbuilt";
