#!/usr/bin/env bash
# Build the synthetic first pass of recipes/ami_mini: AMI dev/eval sentences synthesised with flite,
# decoded by pocketsphinx with the recipe's 3-gram, lattices converted to Kaldi decode dirs whose graph
# costs are the 3-gram's costs (as a Kaldi decode with that G would leave them).
#
# Usage: local/make_first_pass.sh [--config FILE] [--cmd run.pl] [--num-dev N ...] <words.txt> <lm.arpa.gz> \
#            <transcript-dir> <list-dir> <out-dir>
#   e.g. local/make_first_pass.sh data/lang/words.txt data/lang/lm_3gram.arpa.gz ../../data/ami/transcripts \
#            ../../data/ami/lists exp/first_pass_new
# Writes, in the layout of ../../data/ami_mini:
#   <out-dir>/{dev,eval}/{text,utt2spk,spk2utt}   Kaldi data dirs (speaker = flite voice)
#   <out-dir>/decode_{dev,eval}/{lat.N.gz,num_jobs} Kaldi lattice archives (word ids of <words.txt>)
#   <out-dir>/RESULTS                             first-pass and 20-best oracle WERs, with the commands
# Work files (wav, SLF, logs) go to <out-dir>/work. Needs flite and sox (apt-get install -y flite sox)
# and pocketsphinx (pip install 'kaldi-mpq[first-pass]').

cmd=${train_cmd:-run.pl}
. conf/first_pass.conf          # defaults; --config FILE or single options (--num-dev 50) override them
. ../../local/parse_options.sh

set -euo pipefail

if [ $# -ne 5 ]; then
  sed -n '6,9p' "$0" >&2
  exit 1
fi
words=$1 lm=$2 transcripts=$3 lists=$4 out=$5
. ../../local/run_jobs.sh

for tool in flite sox; do
  command -v $tool >/dev/null || { echo "$0: $tool not found: apt-get install -y flite sox" >&2; exit 1; }
done
python3 -c "import pocketsphinx" 2>/dev/null || \
  { echo "$0: pocketsphinx is not installed: pip install 'kaldi-mpq[first-pass]' (or pip install pocketsphinx)" >&2; exit 1; }

work=$out/work
mkdir -p $work/log
start=$(date +%s)
: > $out/RESULTS
for set in dev eval; do
  num=num_$set
  python3 local/first_pass.py select --transcripts $transcripts --list $lists/$set.txt --num ${!num} \
    --voices "$voices" --seed $seed --min-words $min_words --max-words $max_words --out $out/$set
  python3 local/first_pass.py synth --data $out/$set --wav-dir $work/wav/$set --seed $seed \
    ${snr_db:+--snr-db $snr_db}
  run_jobs 1 $work/log/decode_$set.log python3 local/first_pass.py decode --data $out/$set \
    --wav-dir $work/wav/$set --lm $lm --slf-dir $work/slf/$set --lw $ps_lw --beam $ps_beam --wbeam $ps_wbeam
  tail -n 1 $work/log/decode_$set.log

  # the utterances in nj sorted chunks, as a Kaldi decode's split data dirs
  dir=$out/decode_$set
  mkdir -p $dir
  n=$(wc -l < $out/$set/text)
  for j in $(seq 1 $nj); do
    awk -v j=$j -v nj=$nj -v n=$n -v slf=$work/slf/$set \
      'NR > int((j-1)*n/nj) && NR <= int(j*n/nj) {print $1, slf "/" $1 ".slf"}' $out/$set/text > $work/slf_$set.$j.scp
  done
  run_jobs $nj $work/log/slf_to_lattice_$set.JOB.log kaldi-mpq slf-to-lattice --words $words --case upper \
    --unk "$unk" --graph-lm $lm --acoustic-scale $acwt --lattice-beam $lattice_beam \
    scp:$work/slf_$set.JOB.scp ark:$dir/lat.JOB.gz
  echo $nj > $dir/num_jobs

  lmwt=$(python3 -c "print(round(1 / $acwt))")
  echo "# $set: kaldi-mpq score --min-lmwt $lmwt --max-lmwt $lmwt --word-ins-penalty 0.0 $set lang decode_$set" >> $out/RESULTS
  rm -rf $work/lang && mkdir -p $work/lang && cp $words $work/lang/words.txt
  kaldi-mpq score --min-lmwt $lmwt --max-lmwt $lmwt --word-ins-penalty 0.0 $out/$set $work/lang $dir \
    > $work/log/score_$set.log 2>&1
  cat $dir/scoring_kaldi/best_wer >> $out/RESULTS
  mkdir -p $work/scoring_$set && mv $dir/scoring_kaldi $dir/wer_* $work/scoring_$set/
  echo "# $set: local/first_pass.py oracle --data $set --words lang/words.txt --decode-dir decode_$set --n 20 --acwt $acwt" >> $out/RESULTS
  python3 local/first_pass.py oracle --data $out/$set --words $words --decode-dir $dir --n 20 --acwt $acwt >> $out/RESULTS
done
echo "# took $(( $(date +%s) - start )) s" >> $out/RESULTS
cat $out/RESULTS
