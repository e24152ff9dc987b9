# bench/plot.gp: ops/s per redis-benchmark test for redis-server and keyrail,
# one panel per pipeline depth, plus a panel of keyrail/redis ratios; written
# by bench/compare.
#
# Variables (set with gnuplot -e before the script name):
#   datafile  whitespace table "TEST redis keyrail-1 [keyrail-2 ...]", one
#             block per pipeline depth, in the order of `pipes`; "?" = no data
#   outfile   PNG to write
#   subtitle  line under the title (date, requests, repetitions)
#   standin   1 when redis-server ran in the keyrail slots (development run)
#   nservers  number of server columns (redis first)
#   servers   their legend titles, blank-separated, "_" shown as a blank
#   pipes     the depths, blank-separated ("1 16")
#
# ops/s is on a log axis: PING runs at about a million per second with -P 16
# and LRANGE_600 at about ten thousand, so a linear axis hides the slow tests.
# The ratio panel is the one to read for "keyrail at or above redis": the
# line at 1.0 is parity.

if (!exists("datafile")) datafile = "results.dat"
if (!exists("outfile")) outfile = "results.png"
if (!exists("subtitle")) subtitle = ""
if (!exists("standin")) standin = 0
if (!exists("nservers")) nservers = 2
if (!exists("servers")) servers = "redis-server keyrail_--shards_1"
if (!exists("pipes")) pipes = "1 16"

npipes = words(pipes)
title_of(s) = (s == 1 || !standin) ? system("echo '".word(servers, s)."' | tr _ ' '") \
                                   : word(servers, s)." (STAND-IN: redis)"
colour(s) = word("#c0392b #2874a6 #85c1e9 #1e8449", s)

set terminal pngcairo size 1400,(330 * (npipes + 1) + 60) enhanced font "sans,10"
set output outfile

set datafile missing "?"
set style data histograms
set style histogram clustered gap 1
set style fill solid 0.85 border -1
set boxwidth 0.9
set grid ytics lc rgb "#dddddd"
set key outside right top vertical samplen 2 width 2
set xtics nomirror rotate by -30 scale 0 font ",9" noenhanced
set ytics nomirror
# Fixed margins so the panels line up whatever their keys hold.
set lmargin 12
set rmargin 26

set multiplot layout (npipes + 1),1 \
    title "keyrail vs redis-server, redis-benchmark -c 50 default test set\n{/*0.8 ".subtitle."}"

set logscale y
set yrange [1000:*]
set format y "%.0s%c"
set ylabel "ops/s (median, log)"
do for [i = 0:npipes - 1] {
    set title "pipeline -P ".word(pipes, i + 1)
    plot for [s = 1:nservers] datafile index i using (column(s + 1)):xtic(1) \
         title title_of(s) lc rgb colour(s)
}

unset logscale y
# Parity must stay readable: a ratio above 4 is clipped at the top.
set yrange [0:1.5<*<4]
set format y "%.1f"
set ylabel "keyrail / redis ops/s"
set title "ratio ".title_of(2)." / redis-server (1.0 = parity)"
set arrow 1 from graph 0, first 1 to graph 1, first 1 nohead lc rgb "#333333" lw 1.5 front
plot for [i = 0:npipes - 1] datafile index i using ($3 / $2):xtic(1) \
     title "-P ".word(pipes, i + 1) lc rgb word("#7fb3d5 #1a5276 #117a65 #b9770e", i + 1)

unset multiplot
