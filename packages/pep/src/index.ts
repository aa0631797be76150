/**
 * Python packaging standards, pure and free of I/O: names and filenames
 * (PEP 503, 427, 625), versions (PEP 440, through @renovatebot/pep440),
 * requirements and markers (PEP 508), pip requirements files, wheel tags,
 * core metadata and build requirements (PEP 518).
 */
export * from './names.js';
export * from './markers.js';
export * from './marker-env.js';
export * from './pep508.js';
export * from './requirements-file.js';
export * from './tags.js';
export * from './core-metadata.js';
export * from './build-requires.js';
