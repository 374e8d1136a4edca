/**
 * The OpenAPI document and /docs from a gateway process of the scaled-out mode (no worker: the
 * document depends on the routes and the operation registry only): valid, the same surface as
 * the embedded mode's (test/e2e/openapi.test.ts checks it route by route), `servers` at the
 * gateway's PUBLIC_URL, and the page's assets served by the gateway itself.
 */
import { Validator } from "@seriousme/openapi-schema-validator";
import { OPERATIONS } from "@transmute/core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createCluster, type Cluster, type ServerProcess } from "../support/cluster.js";
import { servicesAvailable } from "../support/services.js";
import { printLogsOnFailure } from "./fixtures.js";

const available = await servicesAvailable();

describe.skipIf(!available)("scaled out: the API reference of a gateway", () => {
  let cluster: Cluster | undefined;
  let gateway: ServerProcess;
  printLogsOnFailure(() => cluster);

  beforeAll(async () => {
    cluster = await createCluster();
    gateway = await cluster.start("gateway");
  });

  afterAll(async () => {
    await cluster?.close();
  });

  it("serves a valid OpenAPI 3.1 document of the whole surface at its PUBLIC_URL", async () => {
    const res = await fetch(`${gateway.url}/openapi.json`);
    expect(res.status).toBe(200);
    const doc = (await res.json()) as any;
    const result = await new Validator().validate(structuredClone(doc));
    expect(result.errors ?? []).toEqual([]);
    expect(doc.servers[0].url).toBe(gateway.url);
    const paths = Object.keys(doc.paths);
    const expected = ["/v1/process/jobs", "/v1/process/jobs/{id}", "/v1/process/tasks/{id}", "/v1/upload/{slot}", "/v1/files/{fileId}/{name}", "/v1/account/me"];
    expect(paths).toEqual(expect.arrayContaining([...expected, ...[...OPERATIONS.keys()].map((name) => `/v1/process/${name}`)]));
    expect(doc.paths["/v1/process/convert"].post.requestBody.content["application/json"].schema.$ref).toBe("#/components/schemas/ConvertTaskRequest");
  });

  it("serves /docs and every asset it loads", async () => {
    const res = await fetch(`${gateway.url}/docs`);
    expect(res.status).toBe(200);
    const assets = [...(await res.text()).matchAll(/(?:src|href)="([^"]+)"/g)].map((m) => m[1]!);
    expect(assets.length).toBeGreaterThanOrEqual(5);
    for (const asset of assets) {
      const url = new URL(asset, `${gateway.url}/docs`);
      expect(url.origin, asset).toBe(gateway.url);
      expect((await fetch(url)).status, asset).toBe(200);
    }
    expect((await fetch(`${gateway.url}/docs/json`)).status).toBe(200);
  });
});
