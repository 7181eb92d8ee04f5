/** Types of zip.mjs (a plain module, so the build runs without TypeScript). */
export declare function zip(files: Array<{ name: string; data: Buffer | Uint8Array | string }>): Buffer;
