# bench/plot-memory.gp: bytes per key (INFO memory used_memory, empty server
# subtracted) per value kind for redis-server and keyrail; written by
# bench/memory --png.
#
# Variables (set with gnuplot -e before the script name):
#   datafile  whitespace table "KIND redis keyrail-1 [keyrail-2 ...]"
#   outfile   PNG to write
#   subtitle  line under the title (date, keys per kind)
#   standin   1 when redis-server ran in the keyrail slots (development run)
#   nservers  number of server columns (redis first)
#   servers   their legend titles, blank-separated, "_" shown as a blank

if (!exists("datafile")) datafile = "memory.dat"
if (!exists("outfile")) outfile = "memory.png"
if (!exists("subtitle")) subtitle = ""
if (!exists("standin")) standin = 0
if (!exists("nservers")) nservers = 2
if (!exists("servers")) servers = "redis-server keyrail_--shards_1"

title_of(s) = (s == 1 || !standin) ? system("echo '".word(servers, s)."' | tr _ ' '") \
                                   : word(servers, s)." (STAND-IN: redis)"
colour(s) = word("#c0392b #2874a6 #85c1e9 #1e8449", s)

set terminal pngcairo size 900,500 enhanced font "sans,10"
set output outfile
set title "bytes per key (used\\_memory), lower is better\n{/*0.8 ".subtitle."}"
set datafile missing "?"
set style data histograms
set style histogram clustered gap 1
set style fill solid 0.85 border -1
set boxwidth 0.9
set grid ytics lc rgb "#dddddd"
set yrange [0:*]
set ylabel "bytes per key"
set key top left samplen 2
set xtics nomirror scale 0 noenhanced
set ytics nomirror
plot for [s = 1:nservers] datafile using (column(s + 1)):xtic(1) title title_of(s) lc rgb colour(s), \
     for [s = 1:nservers] datafile using ($0 + (s - 1 - (nservers - 1) / 2.0) / (nservers + 1.0)):(column(s + 1)):(sprintf("%.0f", column(s + 1))) \
         with labels offset 0, 0.7 font ",8" notitle
