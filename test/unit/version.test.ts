// The version printed by --version and INFO is the one package.json declares.

import { expect, test } from "bun:test";
import pkg from "../../package.json";
import { VERSION } from "../../src/version.ts";

test("src/version.ts matches package.json", () => {
  expect(VERSION).toBe(pkg.version);
});
