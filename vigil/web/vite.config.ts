import { defineConfig } from "vite";

// Everything is bundled locally: the served app fetches nothing from the internet.
export default defineConfig({
  base: "/",
  build: {
    outDir: "dist",
    emptyOutDir: true,
    assetsDir: "assets",
    sourcemap: false,
    chunkSizeWarningLimit: 2000,
  },
  server: {
    proxy: { "/api": "http://127.0.0.1:8080" },
  },
});
