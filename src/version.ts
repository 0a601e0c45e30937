/** Build info, baked in by `bun build --define` (scripts/build.ts); "dev" when run from source. */
declare const BUILD_VERSION: string | undefined;
declare const BUILD_COMMIT: string | undefined;

export const VERSION = typeof BUILD_VERSION !== "undefined" ? BUILD_VERSION : "dev";
export const COMMIT = typeof BUILD_COMMIT !== "undefined" ? BUILD_COMMIT : "unknown";
