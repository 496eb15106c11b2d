import assert from "node:assert/strict";
import { asDuration, asInteger, closest, Invalid, type Parse, Reader } from "../../lib/config/reader.ts";

Deno.test("closest suggests only plausible typos", () => {
  const keys = ["listen", "tls", "hosts", "routes"];
  const cases: [string, string | undefined][] = [
    ["lisen", "listen"],
    ["Listen", "listen"],
    ["tsl", "tls"],
    ["host", "hosts"],
    ["route", "routes"],
    ["color", undefined],
    ["x", undefined],
    ["", undefined],
  ];
  for (const [word, expected] of cases) assert.equal(closest(word, keys), expected, word);
  assert.equal(closest("anything", []), undefined);
});

Deno.test("parsers return Invalid instead of throwing", () => {
  const cases: [string, Parse<number>, unknown, number | string][] = [
    ["integer in range", asInteger(1, 10), 10, 10],
    ["integer above range", asInteger(1, 10), 11, "must be an integer from 1 to 10"],
    ["positive integer", asInteger(1), 7, 7],
    ["not an integer", asInteger(1), 1.5, "must be a positive integer"],
    ["duration", asDuration({ positive: true }), "1s", 1_000],
    ["zero when positive", asDuration({ positive: true }), 0, "must be greater than 0"],
    ["zero allowed", asDuration({ positive: false }), 0, 0],
  ];
  for (const [name, parse, input, expected] of cases) {
    const result = parse(input);
    assert.deepEqual(result instanceof Invalid ? result.message : result, expected, name);
  }
});

Deno.test("Reader resolves PEM paths against baseDir", () => {
  const reader = new Reader("/etc/wsgate");
  const filled: string[] = [];
  assert.equal(reader.pemFile(["a"], "certs/../cert.pem", (pem) => filled.push(pem)), "/etc/wsgate/cert.pem");
  assert.equal(reader.pemFile(["b"], "/abs/key.pem", (pem) => filled.push(pem)), "/abs/key.pem");
  assert.deepEqual(reader.files.map((f) => [f.path, f.file]), [[["a"], "/etc/wsgate/cert.pem"], [
    ["b"],
    "/abs/key.pem",
  ]]);
  reader.files[0]!.fill("PEM");
  assert.deepEqual(filled, ["PEM"]);
});

Deno.test("Reader.strings takes one string or a list of strings", () => {
  const reader = new Reader("/");
  assert.deepEqual(reader.strings({ hosts: "a" }, "hosts", ["s"], { required: false }), [{
    value: "a",
    path: ["s", "hosts"],
  }]);
  assert.deepEqual(reader.strings({ hosts: ["a", 1] }, "hosts", ["s"], { required: false }), [{
    value: "a",
    path: ["s", "hosts", 0],
  }]);
  assert.equal(reader.strings({}, "hosts", ["s"], { required: false }), undefined);
  assert.equal(reader.strings({}, "listen", ["s"], { required: true }), undefined);
  assert.deepEqual(reader.issues, [
    { path: ["s", "hosts", 1], message: "must be a string" },
    { path: ["s"], message: 'missing required key "listen"' },
  ]);
});
