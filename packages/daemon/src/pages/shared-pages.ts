/** What the team store answered for a project's page. The text is not trusted until decoded (shared-page-format.ts). */
export type SharedPageRead =
  | { kind: 'found'; text: string }
  | { kind: 'absent' }
  /** The store failed, timed out, or is left alone after a failure. */
  | { kind: 'unavailable'; reason: string };

/** A page document to write, with the digest of its listing (a write of an unchanged listing is skipped). */
export interface SharedPageWrite {
  json: string;
  listingDigest: string;
}

/**
 * The project pages several daemons share (the team store's
 * `pages/<origin>/<project>.json`). The pages room depends only on this,
 * never on how it is stored.
 */
export interface SharedPages {
  /** Reads a page document, no larger than `maxBytes`, within the store's bounded delay. */
  read(origin: string, project: string, maxBytes: number): Promise<SharedPageRead>;
  /** Writes a page document in the background; failures are counted and logged, never thrown. */
  write(origin: string, project: string, page: SharedPageWrite): void;
  /** A document that did not decode, or entries of one that were refused: logged and counted. */
  refused(origin: string, project: string, reason: string): void;
  /** A document that decoded and was stored locally. */
  used(origin: string, project: string): void;
}
