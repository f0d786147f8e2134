#!/usr/bin/env bash
# Regenerates every committed accuracy file in eval/results (the speed benchmark is separate:
# python eval/bench/bench.py). Since issue 21 every fold of the default pipeline trains on the labelled corpus
# (about 2 minutes a fold on 2 CPU cores), so the full run takes most of a day; each line below stands alone.
#   make eval   (or: bash eval/reproduce.sh from the repository root, after `make setup`)
set -euo pipefail
ATLAS=${ATLAS:-../shared/atlas/releases/v5.6.1/ATLAS.yaml}
ATLAS_V6=${ATLAS_V6:-../shared/atlas/releases/v2026.05/ATLAS-2026.05.yaml}
BIN=${BIN:-.venv/bin}
OUT=eval/results
# The committed results were measured with the float32 numpy encoder, the default before issue 23 (the shipped
# int8 encoder was judged against float32 by the precision gate below, which picks its own encoders).
export ATLAS_MAPPER_BACKEND=${ATLAS_MAPPER_BACKEND:-numpy}
$BIN/atlas-mapper eval --atlas "$ATLAS" --task steps --task summary --task narrative --protocol loco -o $OUT > /dev/null
$BIN/atlas-mapper eval --atlas "$ATLAS" --task narrative --task steps --task summary --protocol temporal --train-release v5.0.0 -o $OUT > /dev/null
# the same split with today's knowledge base (documents, labels, index): what a time split must not do, kept for comparison
$BIN/atlas-mapper eval --atlas "$ATLAS" --task narrative --protocol temporal-studies --train-release v5.0.0 -o $OUT > /dev/null
$BIN/atlas-mapper eval --atlas "$ATLAS" --task data/eval/non_ai_incidents.yaml --task data/eval/ai_incidents.yaml -o $OUT > /dev/null
# write-ups in the wild, dev half (cross-validated over write-ups), with the ablations of issue 12:
# no write-ups at all (the model before it), and write-up rows weighted 15 times (better here, worse on loco)
WILD="--task data/eval/wild/ai.yaml --task data/eval/wild/non_ai.yaml"
METHODS="--methods popularity --methods tfidf --methods rcatt --methods dense --methods default"
$BIN/atlas-mapper eval --atlas "$ATLAS_V6" $WILD --subset dev $METHODS --methods default:writeups=false \
  --methods default:writeup_weight=15 -o $OUT > /dev/null
# the same loco evaluation on v2026.05 (the v6 format, the default release since issue 11), beside the v5.6.1 one
$BIN/atlas-mapper eval --atlas "$ATLAS_V6" --task steps --task summary --task narrative --protocol loco -o $OUT/v2026.05 > /dev/null
# the frozen test half, with the model the dev half chose (case studies + every dev write-up)
$BIN/atlas-mapper eval --atlas "$ATLAS_V6" $WILD --subset test $METHODS --methods default:writeups=false -o $OUT > /dev/null
# issue 21: the frozen real-report test split, scored once (every method in one run)
$BIN/atlas-mapper eval --atlas "$ATLAS_V6" --task corpus:test $METHODS --methods default:writeups=false -o $OUT/corpus > /dev/null
# issue 21's development runs on the corpus's training split (5-fold CV): the shipped model, its ablations,
# the corpus left out or taught with fewer negatives, and the learning curve against corpus size
CV=$OUT/corpus-dev/cv
$BIN/atlas-mapper eval --atlas "$ATLAS_V6" --task corpus:train --methods default --methods default:relevance_text=false \
  --methods default:subtechnique_chain=false -o $CV > /dev/null
$BIN/atlas-mapper eval --atlas "$ATLAS_V6" --task corpus:train --methods default --train-corpus none -o $CV/no-corpus > /dev/null
$BIN/atlas-mapper eval --atlas "$ATLAS_V6" --task corpus:train --methods default --train-corpus attack+not_ai \
  -o $CV/not-ai-negatives-only > /dev/null
$BIN/python -m atlas_eval.curve --atlas "$ATLAS_V6" -o $OUT/corpus-dev > /dev/null
# the case studies with the corpus in training: the first 12 leave-one-out folds, narratives and steps
$BIN/atlas-mapper eval --atlas "$ATLAS" --task narrative --task steps --protocol loco --max-folds 12 --methods default \
  -o $OUT/corpus-dev/shipped > /dev/null
# and the wild dev half, cross-validated, with the shipped model's settings alone
$BIN/atlas-mapper eval --atlas "$ATLAS_V6" $WILD --subset dev --methods default -o $OUT/corpus-dev/shipped > /dev/null
# the review loop of issue 13: learning curve on the wild write-ups (both halves, reviewed by their gold labels)
$BIN/python -m atlas_eval.loop --atlas "$ATLAS_V6" -o $OUT > /dev/null
# issue 23: the int8 encoder against float32 on the harness (wild dev half, first 12 loco narratives), paired
$BIN/python -m atlas_eval.precision --atlas "$ATLAS_V6" -o $OUT/precision > /dev/null
$BIN/python -m atlas_eval.summary $OUT
