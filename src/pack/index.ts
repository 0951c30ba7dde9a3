export { packCheckpoint, ARCHIVE_MANIFEST, DEFAULT_TOP_FOLDER, type PackOptions, type PackResult, type PackProgress, type PackedFile, type CompressionStrategy } from "./pack.js";
export { unpackVerified, describeUnpackProblems, type UnpackOptions, type UnpackResult, type FileMismatch } from "./unpack.js";
export {
  readManifestJson,
  parseManifestJson,
  renderManifestJson,
  renderSha256Sums,
  parseSha256Sums,
  normalizeManifest,
  checkManifestPath,
  toPublished,
  type ManifestJson,
  type PublishedFile,
} from "./manifest-io.js";
export { inCheckpointLayout, differenceFromFlat } from "./layout.js";
