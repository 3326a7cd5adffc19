import { writeFileSync } from "node:fs";
import { resolve } from "node:path";
import react from "@vitejs/plugin-react";
import { defineConfig, type Plugin } from "vite";

// keepPlaceholder puts back dist/.gitkeep, which emptyOutDir removes: it is
// committed so that `go:embed all:dist` compiles on a fresh clone (embed.go).
function keepPlaceholder(): Plugin {
  return {
    name: "muster-keep-placeholder",
    apply: "build",
    closeBundle() {
      writeFileSync(resolve(__dirname, "dist/.gitkeep"), "");
    },
  };
}

export default defineConfig({
  plugins: [react(), keepPlaceholder()],
  base: "./",
  build: {
    outDir: "dist",
    emptyOutDir: true,
    target: "es2022",
    chunkSizeWarningLimit: 800,
  },
  server: {
    // `npm run dev` against a musterd on :8000.
    proxy: { "/api": "http://localhost:8000" },
  },
});
