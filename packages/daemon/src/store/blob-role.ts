import type { FileRecord } from './catalog.js';

/** Which blob of a file record: the archive, or its PEP 658 `.metadata`. */
export interface BlobRole {
  metadata: boolean;
}

/** The digest of the blob a record holds in a role, or null when it holds none. */
export function heldBlob(rec: FileRecord, role: BlobRole): string | null {
  if (role.metadata) return rec.metadataStored;
  return rec.stored ? rec.sha256 : null;
}
