export { packCheckpoint, isWeightsFile, type PackOptions, type PackResult, type PackProgress, type PackedFile, type CompressionStrategy } from "./pack.js";
export { unpackVerified, describeUnpackProblems, type UnpackOptions, type UnpackResult, type FileMismatch } from "./unpack.js";
export {
  readManifestJson,
  renderManifestJson,
  renderSha256Sums,
  parseSha256Sums,
  normalizeManifest,
  checkManifestPath,
  type ManifestJson,
  type PublishedFile,
} from "./manifest-io.js";
export { tarHeader, END_OF_ARCHIVE, padding } from "./tar-format.js";
