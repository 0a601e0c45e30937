/** A configuration file as read from disk. */
export interface SourceFile {
  /** Path as shown to users (absolute, or relative to the config dir's parent). */
  path: string;
  /** File content. */
  text: string;
}
