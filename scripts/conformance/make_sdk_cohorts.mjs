// Cohort decisions of the real JavaScript SDKs, for fledge-sticky's
// conformance tests: the Node half of make_sdk_cohorts.sh.
//
//     node make_sdk_cohorts.mjs INPUTS.json OUT_DIR
//
// Reads the inputs make_sdk_cohorts.py drew, asks unleash-client and
// @growthbook/growthbook (public APIs, no server) for their decision on each,
// and writes OUT_DIR/unleash-node.json and OUT_DIR/growthbook-js.json. Run it
// from the folder whose node_modules holds the packages (the shell script
// copies it there).

import { readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

import { GrowthBook } from '@growthbook/growthbook';
import { InMemStorageProvider, Unleash } from 'unleash-client';

const GENERATOR = 'scripts/conformance/make_sdk_cohorts.sh (make_sdk_cohorts.py, make_sdk_cohorts.mjs)';
const here = dirname(fileURLToPath(import.meta.url));
const pkgVersion = (name) =>
  JSON.parse(readFileSync(join(here, 'node_modules', name, 'package.json'), 'utf8')).version;

const rolloutToggle = (name, group, rollout) => ({
  name,
  enabled: true,
  strategies: [
    {
      name: 'flexibleRollout',
      parameters: { rollout: String(rollout), stickiness: 'default', groupId: group },
    },
  ],
});

// Feature-level variants: the group is the toggle's name.
const variantToggle = (name, variants) => ({
  name,
  enabled: true,
  strategies: [{ name: 'default', parameters: {} }],
  variants: variants.map(([n, w]) => ({
    name: n,
    weight: w,
    weightType: 'variable',
    stickiness: 'default',
  })),
});

async function unleashNode(inputs) {
  const { groups, unleash_percentages: percentages, unleash_fractional: fractional } = inputs;
  const features = [];
  for (const g of groups) {
    for (const p of percentages) features.push(rolloutToggle(`${g}#${p}`, g, p));
    for (const p of fractional) features.push(rolloutToggle(`${g}#${p}`, g, p));
    features.push(variantToggle(g, inputs.unleash_variants));
  }
  // Bootstrapped; refreshInterval 0 turns polling off, so no connection is
  // made (the URL is a loopback placeholder the client requires).
  const unleash = new Unleash({
    url: 'http://127.0.0.1:9/api',
    appName: 'fledge-sdk-cohorts',
    refreshInterval: 0,
    disableMetrics: true,
    skipInstanceCountWarning: true,
    storageProvider: new InMemStorageProvider(),
    bootstrap: { data: features },
  });
  unleash.on('error', (e) => {
    throw e;
  });
  await new Promise((resolve) => unleash.once('ready', resolve));
  const cases = [];
  for (const g of groups) {
    for (const id of inputs.ids) {
      const context = { userId: id };
      const bits = (ps) => ps.map((p) => (unleash.isEnabled(`${g}#${p}`, context) ? '1' : '0')).join('');
      cases.push({
        group: g,
        id,
        enabled: bits(percentages),
        fractional: bits(fractional),
        variant: unleash.getVariant(g, context).name,
      });
    }
  }
  unleash.destroy();
  return {
    sdk: {
      language: 'javascript',
      packages: {
        'unleash-client': pkgVersion('unleash-client'),
        murmurhash3js: pkgVersion('murmurhash3js'),
      },
      node: process.versions.node,
    },
    api: "new Unleash({bootstrap, refreshInterval: 0, ...}).isEnabled(toggle, {userId: id}) and .getVariant(group, ...), no server",
    strategy: 'flexibleRollout, stickiness default, groupId = group, rollout = percentage',
    percentages,
    fractional_percentages: fractional,
    variants: inputs.unleash_variants,
    cases,
  };
}

function growthbookCase(inputs, seed, id, v) {
  const features = (weights) =>
    Object.fromEntries(
      weights.map((w) => [
        `rollout-${w}`,
        {
          defaultValue: false,
          rules: [{ force: true, coverage: w / 10000, hashVersion: v, seed, hashAttribute: 'id' }],
        },
      ]),
    );
  const decide = (gb, w) => {
    const share = w / 10000;
    const result = gb.run({
      key: 'exp',
      seed,
      hashVersion: v,
      variations: [0, 1],
      weights: [share, 1 - share],
    });
    const canary = result.inExperiment && result.variationId === 0;
    return [result.bucket, canary, gb.isOn(`rollout-${w}`)];
  };
  const weights = inputs.growthbook_weights;
  const gb = new GrowthBook({ attributes: { id }, features: features(weights) });
  const results = weights.map((w) => decide(gb, w));
  const n = results[0][0];
  if (!results.every((r) => r[0] === n)) throw new Error(`bucket moved: ${seed} ${id} v${v}`);
  const b = Math.round(n * 10000);
  const edgeWeights = [b - 1, b, b + 1].filter((w) => w >= 0 && w <= 10000);
  const gbEdge = new GrowthBook({ attributes: { id }, features: features(edgeWeights) });
  const edge = edgeWeights.map((w) => {
    const [, c, r] = decide(gbEdge, w);
    return [w, Number(c), Number(r)];
  });
  gb.destroy();
  gbEdge.destroy();
  return {
    seed,
    id,
    version: v,
    n,
    canary: results.map((r) => (r[1] ? '1' : '0')).join(''),
    rollout: results.map((r) => (r[2] ? '1' : '0')).join(''),
    edge,
  };
}

function growthbookJs(inputs) {
  const cases = [];
  for (const seed of inputs.groups) {
    for (const id of inputs.ids) {
      for (const v of inputs.growthbook_versions) cases.push(growthbookCase(inputs, seed, id, v));
    }
  }
  return {
    sdk: {
      language: 'javascript',
      packages: { '@growthbook/growthbook': pkgVersion('@growthbook/growthbook') },
      node: process.versions.node,
    },
    api: 'new GrowthBook({attributes: {id}, features}).run(experiment) and .isOn(feature)',
    weights_bps: inputs.growthbook_weights,
    cases,
  };
}

// The same layout as the Python half: one header field and one case a line.
function write(path, doc) {
  const { cases, ...rest } = doc;
  const head = { generator: GENERATOR, ...rest };
  const lines = Object.entries(head).map(([k, v]) => ` ${JSON.stringify(k)}: ${JSON.stringify(v)},`);
  const body = cases.map((c) => JSON.stringify(c)).join(',\n');
  const text = `{\n${lines.join('\n')}\n "cases": [\n${body}\n ]\n}\n`;
  JSON.parse(text);
  writeFileSync(path, text);
}

const [inputsPath, outDir] = process.argv.slice(2);
if (!inputsPath || !outDir) {
  console.error('usage: node make_sdk_cohorts.mjs INPUTS.json OUT_DIR');
  process.exit(2);
}
const inputs = JSON.parse(readFileSync(inputsPath, 'utf8'));
write(join(outDir, 'unleash-node.json'), await unleashNode(inputs));
write(join(outDir, 'growthbook-js.json'), growthbookJs(inputs));
