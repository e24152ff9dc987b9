# bench/plot.gp: grouped bar chart of ops/s per workload for redis-server,
# keyrail --shards 1 and keyrail --shards 2, as written by bench/compare.
#
# Variables (set with gnuplot -e before the script name):
#   datafile  whitespace table "TEST redis keyrail-1 keyrail-2", one block per
#             pipeline depth (block 0: -P 1, block 1: -P 16), "?" = no data
#   outfile   PNG to write
#   subtitle  line under the title (date, requests, repetitions)
#   standin   1 when redis-server ran in the keyrail slots (development run)
#
# The two depths get their own panel: -P 16 runs about ten times faster than
# -P 1, so on one shared axis the unpipelined bars would be unreadable.

if (!exists("datafile")) datafile = "results.dat"
if (!exists("outfile")) outfile = "results.png"
if (!exists("subtitle")) subtitle = ""
if (!exists("standin")) standin = 0

set terminal pngcairo size 1200,560 enhanced font "sans,10"
set output outfile

set datafile missing "?"
set style data histograms
set style histogram clustered gap 1
set style fill solid 0.85 border -1
set boxwidth 0.9
set grid ytics lc rgb "#dddddd"
set yrange [0:*]
set format y "%.1s%c"
set ylabel "ops/s (median)"
set key below horizontal maxrows 1 samplen 2 width -1
set xrange [-0.6:3.6]
set xtics nomirror
set ytics nomirror

kr1 = standin ? "keyrail-1 (STAND-IN: redis)" : "keyrail --shards 1"
kr2 = standin ? "keyrail-2 (STAND-IN: redis)" : "keyrail --shards 2"

set multiplot layout 1,2 title "keyrail vs redis-server, redis-benchmark -c 50\n{/*0.8 ".subtitle."}"

set title "pipeline -P 1"
plot datafile index 0 using 2:xtic(1) title "redis-server" lc rgb "#c0392b", \
     ''       index 0 using 3 title kr1 lc rgb "#2874a6", \
     ''       index 0 using 4 title kr2 lc rgb "#85c1e9"

set title "pipeline -P 16"
plot datafile index 1 using 2:xtic(1) title "redis-server" lc rgb "#c0392b", \
     ''       index 1 using 3 title kr1 lc rgb "#2874a6", \
     ''       index 1 using 4 title kr2 lc rgb "#85c1e9"

unset multiplot
