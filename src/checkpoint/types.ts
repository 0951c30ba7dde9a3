// The model of a checkpoint on disk, shared by every stage.

/** One file that will be published, at its flattened repo path (the old `cp $(find ckpt -type f) .`). */
export interface CheckpointFile {
  /** Path in the Hub repo / archive, POSIX separators, e.g. `vocab.txt`. */
  repoPath: string;
  /** Absolute path of the source file on disk (symlinks inside the checkpoint resolved). */
  source: string;
  size: number;
  /**
   * Where the file lies in the checkpoint folder (POSIX, relative), with its own source: the
   * archive keeps this layout. Identical copies that flatten onto one repo path are each listed.
   * Absent: the file lies at `repoPath`.
   */
  layout?: LayoutCopy[];
}

/** One place in the checkpoint's own layout that holds a published file's bytes. */
export interface LayoutCopy {
  path: string;
  source: string;
}

/** One line of the manifest: what the Hub plan, the archive and verification compare against. */
export interface ManifestEntry {
  /** Flattened repo path, POSIX separators. */
  path: string;
  size: number;
  /** Lowercase hex sha256 of the bytes. */
  sha256: string;
  /** Absolute path of the source file (not serialized into manifest.json). */
  source: string;
  /** The file's stat data when it was hashed: publishing checks the file is still that file. */
  stamp?: FileStamp;
  /** Where it lies in the checkpoint's own layout (see CheckpointFile); absent: at `path`. */
  layout?: LayoutCopy[];
}

/** What identifies one version of a file on disk without reading it (as the hash cache keys it). */
export interface FileStamp {
  size: number;
  mtimeNs: string;
  ino: string;
}

export type Manifest = ManifestEntry[];

export type DType =
  | "float64"
  | "float32"
  | "float16"
  | "bfloat16"
  | "int64"
  | "int32"
  | "int16"
  | "int8"
  | "uint8"
  | "bool";

/** A tensor as stored in a weights file, located without reading its data. */
export interface TensorInfo {
  name: string;
  dtype: DType;
  shape: number[];
  /** Element strides (torch) or the contiguous strides (safetensors). */
  stride: number[];
  /** Storage identity: tensors that share it are tied (torch `data/N` key; safetensors: the name). */
  storageKey: string;
  /** Offset of the first element inside its storage, in elements. */
  storageOffset: number;
  /** Absolute byte offset in the weights file of the tensor's first element. */
  dataOffset: number;
  /** Bytes spanned by this tensor's elements (numel * itemsize for contiguous tensors). */
  byteLength: number;
}

export interface WeightsIndex {
  format: "torch" | "safetensors";
  /** Absolute path of the weights file. */
  file: string;
  tensors: TensorInfo[];
  /** safetensors `__metadata__`, torch: empty. */
  metadata: Record<string, string>;
  /** What the loader accepts but a careful user should know (a stale CRC32). */
  warnings?: string[];
}
