#!/usr/bin/env node
// Issue 19, item 5 (section 5c): the image's size over its base image, from `podman image inspect`.
// The base is docker.io/library/node:24-trixie-slim, here the stand-in that scripts/build-base-image.sh
// makes (no registry is reachable; the stand-in is larger than the real slim image, so what counts is
// what the Dockerfile adds on top of it). The image is built from this tree as the image tests build it
// (podman build --network host --format docker, test/image/containers.conf), unless an image already
// carries this tree's key (a hash of every file the Dockerfile copies): then that image is measured.
// Run as root: bench/image-footprint.mjs [--rebuild]
import { execFileSync, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { ratio, writeSection } from './lib/results.mjs';

const { values: options } = parseArgs({ options: { rebuild: { type: 'boolean', default: false } } });
const ROOT = fileURLToPath(new URL('..', import.meta.url));
const BASE_IMAGE = 'docker.io/library/node:24-trixie-slim';
const IMAGE_TAG = 'localhost/secure-borg-server:bench';
const TREE_LABEL = 'org.secure-borg-server.tree';
const environment = { ...process.env, CONTAINERS_CONF: `${ROOT}test/image/containers.conf`, BUILDAH_FORMAT: 'docker' };
const log = (text) => process.stderr.write(`[bench/image-footprint] ${text}\n`);

function podman(args, { allowFailure = false } = {}) {
  const result = spawnSync('podman', args, { cwd: ROOT, env: environment, encoding: 'utf8', maxBuffer: 64 << 20 });
  if (result.status !== 0 && !allowFailure) {
    log(`podman ${args.join(' ')} failed (${result.status}): ${(result.stderr ?? '').slice(-2000)}`);
    process.exit(1);
  }
  return result;
}

/** A hash of every file the Dockerfile's COPY lines take (tracked or not, minus what git ignores). */
function treeKey() {
  const paths = [
    'Dockerfile',
    'package.json',
    'package-lock.json',
    'tsconfig.json',
    'tsconfig.build.json',
    'src',
    'migrations',
    'bin',
    'container',
  ];
  const files = execFileSync('git', ['ls-files', '-co', '--exclude-standard', '--', ...paths], { cwd: ROOT, encoding: 'utf8' })
    .split('\n')
    .filter(Boolean)
    .sort();
  const hash = createHash('sha256');
  for (const file of files) {
    hash.update(`${file}\0`);
    try {
      hash.update(readFileSync(`${ROOT}${file}`));
    } catch {
      hash.update('(deleted)');
    }
  }
  return hash.digest('hex').slice(0, 16);
}

const imageSize = (reference) => Number(podman(['image', 'inspect', '--format', '{{.Size}}', reference]).stdout.trim());
const mb = (bytes) => `${(bytes / 1e6).toFixed(1)} MB`;

if (spawnSync('podman', ['--version']).status !== 0) {
  log('podman is missing: run scripts/setup-podman.sh as root');
  process.exit(1);
}
if (podman(['image', 'exists', BASE_IMAGE], { allowFailure: true }).status !== 0) {
  log(`${BASE_IMAGE} is missing: running scripts/build-base-image.sh (cached after the first time)`);
  const built = spawnSync(`${ROOT}scripts/build-base-image.sh`, [], { cwd: ROOT, env: environment, stdio: ['ignore', 2, 2] });
  if (built.status !== 0) process.exit(1);
}

const key = treeKey();
let image = options.rebuild
  ? ''
  : podman(['images', '--quiet', '--no-trunc', '--filter', `label=${TREE_LABEL}=${key}`])
      .stdout.trim()
      .split('\n')[0];
let buildSeconds = null;
if (image) {
  log(`an image of this tree (${TREE_LABEL}=${key}) is present: ${image.slice(0, 19)}; measuring it`);
} else {
  log(`building the image of this tree (${key}) from the Dockerfile`);
  const startedAt = performance.now();
  const built = spawnSync(
    'podman',
    ['build', '--network', 'host', '--format', 'docker', '--label', `${TREE_LABEL}=${key}`, '--tag', IMAGE_TAG, '.'],
    {
      cwd: ROOT,
      env: environment,
      stdio: ['ignore', 2, 2],
    },
  );
  if (built.status !== 0) process.exit(1);
  buildSeconds = (performance.now() - startedAt) / 1000;
  image = podman(['image', 'inspect', '--format', '{{.Id}}', IMAGE_TAG]).stdout.trim();
}

const size = imageSize(image);
const baseSize = imageSize(BASE_IMAGE);
// The layers the Dockerfile adds (those above the base's), largest first.
const baseLayers = Number(podman(['image', 'inspect', '--format', '{{len .RootFS.Layers}}', BASE_IMAGE]).stdout.trim());
const history = JSON.parse(podman(['history', '--format', 'json', '--no-trunc', image]).stdout);
const added = history
  .filter((entry) => entry.size > 0)
  .slice(0, Math.max(0, history.filter((entry) => entry.size > 0).length - baseLayers))
  .sort((a, b) => b.size - a.size)
  .slice(0, 4)
  .map((entry) => {
    const step = (entry.CreatedBy ?? entry.createdBy ?? '').replace(/^\/bin\/sh -c (#\(nop\) )?/, '').replace(/\s+/g, ' ');
    return `${mb(entry.size)}: \`${step.length > 110 ? `${step.slice(0, 110)}…` : step}\``;
  });

writeSection({
  number: '5c',
  slug: 'footprint-image',
  title: "Footprint: the image's size over its base",
  baseline: `${BASE_IMAGE}, the stand-in built by scripts/build-base-image.sh (Debian 13 minbase, Node 24, npm 11)`,
  figures: [
    { what: 'image size (podman image inspect)', server: mb(size), baseline: mb(baseSize), ratio: ratio(size, baseSize) },
    {
      what: 'added over the base',
      server: mb(size - baseSize),
      baseline: '',
      ratio: `${(((size - baseSize) / baseSize) * 100).toFixed(0)} % of the base`,
    },
  ],
  notes: [
    `Image ${image.slice(0, 12)}, tree key ${key}; ${buildSeconds === null ? 'measured as found (not rebuilt)' : `built in ${buildSeconds.toFixed(0)} s for this run`}. ` +
      'The stand-in base is larger than the real node:24-trixie-slim, so the ratio is smaller than it would be against the real base; the added size is what to compare.',
    `Largest layers the Dockerfile adds: ${added.join('; ') || 'none reported'}.`,
  ],
});
