/** A file as the job engine records it and operations see it: one shape on both sides. */

/** A stored file of a task: its place among the task's files, its bytes' identity and where they are. */
export interface StoredFile {
  /** Position among the task's files, from 0. */
  ordinal: number;
  name: string;
  size: number;
  contentType: string;
  /** Format identified from the bytes; null when unknown. */
  format: string | null;
  sha256: string;
  md5: string;
  storageKey: string;
}

/** A stored file of a task's input, with the task that produced it. */
export interface InputFileOf extends StoredFile {
  taskId: string;
}
