/**
 * s3rver in a process of its own, for the scaled-out bench on the S3 driver (its CPU is then
 * not the load generator's). Usage: node s3rver-process.mjs <directory> <bucket>; prints
 * {"port": N} once it listens, stops on SIGTERM.
 */
import S3rver from "s3rver";

const [directory, bucket] = process.argv.slice(2);
const server = new S3rver({ address: "127.0.0.1", port: 0, silent: true, directory, configureBuckets: [{ name: bucket }] });
const address = await server.run();
console.log(JSON.stringify({ port: address.port }));
process.on("SIGTERM", async () => {
  server.httpServer?.closeAllConnections?.();
  await server.close();
  process.exit(0);
});
