#!/usr/bin/env bash
# Copies the event-type catalogue and the default feedback lexicon into the kustomize base (kustomize only
# reads files below its own folder). The deploy check fails when they differ.
set -euo pipefail
cd "$(dirname "$0")/.."
rm -f k8s/base/catalogue/*.yaml
cp services/event/catalogue/*.yaml k8s/base/catalogue/
cp services/feedback/lexicon/default.yaml k8s/base/lexicon/default.yaml
echo "k8s/base/catalogue refreshed; list the files in k8s/base/kustomization.yaml if they changed"
