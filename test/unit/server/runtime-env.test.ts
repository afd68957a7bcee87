// Unit: which runtime settings the server would add to an environment (src/server/runtime-env.ts).

import { expect, test } from "bun:test";
import { missingRuntimeEnv, RUNTIME_ENV } from "../../../src/server/runtime-env.ts";

test("all are missing from an empty environment", () => {
  expect(missingRuntimeEnv({}).sort()).toEqual(Object.keys(RUNTIME_ENV).sort());
});

test("a variable set to anything, even empty, is the user's and is not added", () => {
  expect(missingRuntimeEnv({ BUN_JSC_useWarmUpMarkedBlocks: "" })).toEqual(["MIMALLOC_PURGE_HOLES"]);
  expect(missingRuntimeEnv({ BUN_JSC_useWarmUpMarkedBlocks: "true", MIMALLOC_PURGE_HOLES: "1" })).toEqual([]);
});
