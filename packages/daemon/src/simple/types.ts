/**
 * The model of one project's simple page (PEP 503 / PEP 691 / PEP 700),
 * independent of the wire format it came in or goes out in.
 */

/** PEP 592: false, or the reason (empty string when none was given). */
export type Yanked = false | string;

/**
 * PEP 658 / PEP 714 core metadata availability: false when the index offers
 * none, otherwise the hashes of the `.metadata` file (may be empty when the
 * index only said "true").
 */
export type CoreMetadata = false | { hashes: Record<string, string> };

export interface ListedFile {
  filename: string;
  /** Absolute URL, fragment removed. */
  url: string;
  /** Lower-case algorithm name -> lower-case hex digest (e.g. sha256). */
  hashes: Record<string, string>;
  requiresPython?: string;
  yanked: Yanked;
  coreMetadata: CoreMetadata;
  size?: number;
  uploadTime?: string;
}

export interface ProjectPage {
  /** The project's name as the index spells it (not necessarily normalized). */
  name: string;
  files: ListedFile[];
  /** PEP 700 version list when the index provided one. */
  versions?: string[];
  /** Value of `meta._last-serial` / X-PyPI-Last-Serial when known. */
  lastSerial?: number;
}

export type PageFormat = 'json' | 'html-v1' | 'html';

export const CONTENT_TYPES: Record<PageFormat, string> = {
  json: 'application/vnd.pypi.simple.v1+json',
  'html-v1': 'application/vnd.pypi.simple.v1+html',
  html: 'text/html',
};
