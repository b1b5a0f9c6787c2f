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
    // One entry per app: the command centre, the field unit app and the analyst page.
    // Other pages (e.g. public ones) add their entry here.
    rollupOptions: {
      input: {
        main: "index.html",
        field: "field.html",
        report: "report.html", // the public citizen-report form
        analyst: "analyst.html", // the analyst page (KPIs with CIs, forecast)
      },
    },
  },
  server: {
    proxy: { "/api": "http://127.0.0.1:8080" },
  },
});
