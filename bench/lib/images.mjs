/**
 * Bench inputs, made fresh each run and the same every run (seeded noise): a 1-megapixel
 * photo-like JPEG (smooth gradients, soft waves, per-pixel noise, so encoders have real work
 * and PNG cannot cheat with long runs) and a tiny PNG for per-task overhead.
 */
import sharp from "sharp";

/** Magic bytes of the outputs we check. */
export const MAGIC = {
  png: (b) => b.length > 8 && b.subarray(0, 8).equals(Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a])),
  webp: (b) => b.length > 12 && b.toString("latin1", 0, 4) === "RIFF" && b.toString("latin1", 8, 12) === "WEBP",
  jpg: (b) => b.length > 3 && b[0] === 0xff && b[1] === 0xd8 && b[2] === 0xff,
};

/** A small deterministic PRNG (mulberry32). */
function prng(seed) {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function photoPixels(width, height, seed) {
  const rand = prng(seed);
  const px = Buffer.alloc(width * height * 3);
  const clamp = (v) => (v < 0 ? 0 : v > 255 ? 255 : v);
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      const u = x / width;
      const v = y / height;
      // A sky-to-ground gradient, some soft "objects" (waves and a blob), and sensor noise.
      const wave = 40 * Math.sin(u * 11 + v * 3) * Math.cos(v * 7 - u * 2);
      const dx = u - 0.62;
      const dy = v - 0.41;
      const blob = 90 * Math.exp(-(dx * dx + dy * dy) * 18);
      const n = () => (rand() + rand() + rand() - 1.5) * 18;
      const i = (y * width + x) * 3;
      px[i] = clamp(60 + 150 * v + wave + blob + n());
      px[i + 1] = clamp(90 + 100 * (1 - v) + 0.6 * wave + 0.4 * blob + n());
      px[i + 2] = clamp(200 - 140 * v + 30 * Math.sin(u * 23) - 0.5 * wave + n());
    }
  }
  return px;
}

/** The inputs: `photo` (JPEG, 1155 x 866) and `tiny` (PNG, 16 x 16), as buffers. */
export async function makeInputs() {
  const width = 1155;
  const height = 866;
  const photo = await sharp(photoPixels(width, height, 20240611), { raw: { width, height, channels: 3 } })
    .jpeg({ quality: 90 })
    .toBuffer();
  const tiny = await sharp(photoPixels(16, 16, 7), { raw: { width: 16, height: 16, channels: 3 } })
    .png()
    .toBuffer();
  return {
    photo: { bytes: photo, name: "photo.jpg", format: "jpg", width, height },
    tiny: { bytes: tiny, name: "tiny.png", format: "png", width: 16, height: 16 },
  };
}
