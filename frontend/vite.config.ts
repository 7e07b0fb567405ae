/// <reference types="vitest/config" />
import { createHash } from "node:crypto";
import { readdirSync, readFileSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { brotliCompressSync, constants, gzipSync } from "node:zlib";
import preact from "@preact/preset-vite";
import { defineConfig, type Plugin } from "vite";

// The minifier may write the string with ", ' or ` quotes.
const PLACEHOLDER = /(["'`])__MOBILIZE_PRECACHE__\1/;

/**
 * Emits the hand-written service worker (src/sw.ts) as /sw.js at the root scope and writes into it
 * the list of files to precache (index.html, every JS chunk and stylesheet, the manifest and icons)
 * plus a version derived from that list (hashed names), so each build installs a new worker and drops
 * the previous caches.
 */
function serviceWorker(): Plugin {
  return {
    name: "mobilize-service-worker",
    apply: "build",
    buildStart() {
      this.emitFile({ type: "chunk", id: fileURLToPath(new URL("./src/sw.ts", import.meta.url)), fileName: "sw.js" });
    },
    generateBundle(_options, bundle) {
      const sw = bundle["sw.js"];
      if (!sw || sw.type !== "chunk") throw new Error("sw.js was not emitted");
      if (sw.imports.length > 0) throw new Error(`sw.js must not share chunks: ${sw.imports.join(", ")}`);
      const shell = new Set<string>(["/index.html", "/manifest.webmanifest", "/icons/icon.svg", "/icons/icon-192.png"]);
      // Every chunk and stylesheet, lazy ones too: the worker fetches them after the first load (so
      // they do not count against its budget) and every screen then opens offline.
      for (const item of Object.values(bundle)) {
        if (item.fileName === "sw.js") continue;
        if (item.type === "chunk" || item.fileName.endsWith(".css")) shell.add(`/${item.fileName}`);
      }
      const files = [...shell].sort();
      const version = createHash("sha256").update(files.join("\n")).digest("hex").slice(0, 12);
      if (!PLACEHOLDER.test(sw.code)) throw new Error("precache placeholder missing in sw.js");
      sw.code = sw.code.replace(PLACEHOLDER, () => JSON.stringify({ version, files }));
    },
  };
}

/**
 * Writes .gz and .br next to each text file of the build: WhiteNoise serves them to browsers that
 * accept them (it compresses nothing itself for WHITENOISE_ROOT files).
 */
function precompress(): Plugin {
  let outDir = "dist";
  return {
    name: "mobilize-precompress",
    apply: "build",
    configResolved(config) {
      outDir = config.build.outDir;
    },
    closeBundle() {
      const walk = (dir: string): string[] =>
        readdirSync(dir).flatMap((name) => {
          const path = join(dir, name);
          return statSync(path).isDirectory() ? walk(path) : [path];
        });
      for (const path of walk(outDir)) {
        if (!/\.(?:js|css|html|svg|webmanifest|json)$/.test(path)) continue;
        const data = readFileSync(path);
        if (data.length < 512) continue;
        writeFileSync(`${path}.gz`, gzipSync(data, { level: 9 }));
        writeFileSync(`${path}.br`, brotliCompressSync(data, { params: { [constants.BROTLI_PARAM_QUALITY]: 11 } }));
      }
    },
  };
}

export default defineConfig({
  plugins: [preact(), serviceWorker(), precompress()],
  build: {
    outDir: "dist",
    assetsDir: "assets",
    emptyOutDir: true,
    target: "es2022",
    // The CSP allows no inline script, so no inline module-preload polyfill either.
    modulePreload: { polyfill: false },
    sourcemap: false,
  },
  test: {
    environment: "node",
    include: ["tests/**/*.test.ts"],
  },
});
