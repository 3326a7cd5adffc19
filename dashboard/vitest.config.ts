import { defineConfig } from "vitest/config";

// Unit tests: pure TypeScript (reducer, formatters), no browser.
export default defineConfig({
  test: {
    include: ["src/**/*.test.ts"],
    environment: "node",
  },
});
