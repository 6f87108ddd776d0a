package org.dmashare.examples.cli;

import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.Locale;
import org.dmashare.Hex;
import org.dmashare.iommu.IommuDomain;
import org.dmashare.sharing.ScatterList;
import org.dmashare.sharing.SharedBuffer;

/**
 * Draws a shared buffer's layout as SVG: a legend (sizes, alignment A, the scale), one lane for
 * physical memory holding the buffer's blocks in address order, one lane per domain holding its
 * contiguous IOVA range cut into the chunks that map each block, a line from every chunk to the
 * block it maps (drawn behind the lanes and titles, so it never crosses text), and a table of
 * every block's addresses.
 *
 * <p>Widths are to scale: linear when the largest block is at most {@value #LINEAR_SPAN} times the
 * smallest, otherwise logarithmic (the legend says which). Gaps between blocks that are not
 * adjacent in physical memory are drawn as a fixed break, not to scale. Text is placed only where
 * it fits: a chunk too narrow for its number shows none (its colour, its line and the table
 * identify it), and the canvas is widened to the longest line of text.
 */
final class Svg {
    /** Largest ratio of block lengths drawn on a linear scale. */
    static final int LINEAR_SPAN = 100;
    /** Most blocks listed in the table; the rest are summed up in one line. */
    static final int TABLE_ROWS = 24;

    private static final int FONT = 12;
    /** Advance of one character of the monospace font at {@link #FONT} px, rounded up. */
    private static final double CHAR = 7.5;

    private static final int LINE = 17;
    private static final int MARGIN = 20;
    private static final int BAR = 30;
    private static final int GUTTER = 46;
    private static final int BREAK = 24;
    private static final int MIN_LANE = 900;
    private static final String[] FILL = {
        "#8ecae6", "#ffb703", "#90be6d", "#f4a3a8", "#cdb4db", "#f9c74f", "#80ced7", "#e9c46a", "#b5e48c", "#ffafcc"
    };
    private static final String[] STROKE = {
        "#1d6f93", "#a66f00", "#4c7a33", "#b5464e", "#7b5a94", "#a67c00", "#2b7f89", "#8c6d1f", "#5e8a2e", "#b3487a"
    };

    private Svg() {}

    /**
     * The picture of {@code buffer} mapped into {@code domains}.
     *
     * @param buffer a live buffer
     * @param domains the domains it is mapped into, one lane each, in this order
     * @return a standalone SVG document
     */
    static String render(SharedBuffer buffer, List<IommuDomain> domains) {
        List<ScatterList.Segment> blocks = buffer.blocks().segments();
        int n = blocks.size();
        long[] offset = new long[n];
        long min = Long.MAX_VALUE;
        long max = 0;
        for (int i = 0; i < n; i++) {
            offset[i] = i == 0 ? 0 : offset[i - 1] + blocks.get(i - 1).length();
            min = Math.min(min, blocks.get(i).length());
            max = Math.max(max, blocks.get(i).length());
        }
        boolean log = max / min > LINEAR_SPAN;
        double[] weight = new double[n];
        double total = 0;
        for (int i = 0; i < n; i++) {
            long len = blocks.get(i).length();
            weight[i] = log ? 1 + Math.log((double) len / min) / Math.log(2) : (double) len / min;
            total += weight[i];
        }
        List<Integer> byPa = new ArrayList<>();
        for (int i = 0; i < n; i++) {
            byPa.add(i);
        }
        byPa.sort(Comparator.comparingLong(i -> blocks.get(i).pa()));
        int breaks = 0;
        for (int k = 1; k < n; k++) {
            ScatterList.Segment prev = blocks.get(byPa.get(k - 1));
            breaks += blocks.get(byPa.get(k)).pa() != prev.pa() + prev.length() ? 1 : 0;
        }

        // Every line of text first, so the canvas can be made wide enough for the longest.
        List<String> legend = new ArrayList<>();
        legend.add("buffer " + Hex.size(buffer.size()) + ", mapped length " + Hex.size(buffer.length())
                + ", alignment A = " + Hex.size(buffer.alignment()) + ", " + n + (n == 1 ? " block" : " blocks") + ", "
                + domains.size() + (domains.size() == 1 ? " domain" : " domains"));
        legend.add("lines join each IOVA chunk to the physical block it maps; colours and numbers name the blocks");
        String physTitle =
                "physical memory: the blocks in address order" + (breaks > 0 ? " (// marks a gap, not to scale)" : "");
        List<String> laneTitles = new ArrayList<>();
        for (IommuDomain d : domains) {
            laneTitles.add(d.iommu().name() + " (granule " + BackendsCommand.human(d.granule()) + "): IOVA "
                    + Hex.range(buffer.iova(d), buffer.length()));
        }
        List<String> table = table(buffer, domains, blocks, offset);
        int longest = 0;
        for (String s : concat(legend, List.of(physTitle, scaleLine(log, min, max, 0)), laneTitles, table)) {
            longest = Math.max(longest, s.length());
        }
        int laneWidth = Math.max(MIN_LANE, (int) Math.ceil(longest * CHAR) + 10);
        // Gaps take at most a quarter of the lane, however many there are.
        double gap = breaks == 0 ? 0 : Math.max(8, Math.min(BREAK, laneWidth / 4.0 / breaks));
        double unit = (laneWidth - breaks * gap) / total;
        legend.add(scaleLine(log, min, max, unit));
        int width = laneWidth + 2 * MARGIN;

        // Geometry: x of every block in the physical lane and of every chunk in the domain lanes.
        double[] physX = new double[n];
        double x = MARGIN;
        for (int k = 0; k < n; k++) {
            int i = byPa.get(k);
            if (k > 0) {
                ScatterList.Segment prev = blocks.get(byPa.get(k - 1));
                x += blocks.get(i).pa() != prev.pa() + prev.length() ? gap : 0;
            }
            physX[i] = x;
            x += weight[i] * unit;
        }
        double[] chunkX = new double[n];
        x = MARGIN;
        for (int i = 0; i < n; i++) {
            chunkX[i] = x;
            x += weight[i] * unit;
        }

        int y = MARGIN + FONT;
        StringBuilder out = new StringBuilder();
        StringBuilder lines = new StringBuilder();
        for (String s : legend) {
            out.append(text(MARGIN, y, s, "start", false));
            y += LINE;
        }
        y += LINE / 2;
        out.append(title(MARGIN, y, physTitle));
        int physTop = y + 6;
        for (int i = 0; i < n; i++) {
            out.append(block(physX[i], physTop, weight[i] * unit, i));
        }
        for (int k = 1; k < n; k++) {
            ScatterList.Segment prev = blocks.get(byPa.get(k - 1));
            if (blocks.get(byPa.get(k)).pa() != prev.pa() + prev.length()) {
                double bx = physX[byPa.get(k)] - gap / 2;
                out.append(String.format(
                        Locale.ROOT,
                        "<path d=\"M%.1f %d l-3 %d M%.1f %d l-3 %d\" stroke=\"#444\"" + " stroke-width=\"1.2\"/>%n",
                        bx - 1,
                        physTop + 4,
                        BAR - 8,
                        bx + 2.5,
                        physTop + 4,
                        BAR - 8));
            }
        }
        int physBottom = physTop + BAR;
        y = physBottom + GUTTER;
        for (int c = 0; c < domains.size(); c++) {
            out.append(title(MARGIN, y, laneTitles.get(c)));
            int top = y + 6;
            for (int i = 0; i < n; i++) {
                out.append(block(chunkX[i], top, weight[i] * unit, i));
                double from = chunkX[i] + weight[i] * unit / 2;
                double to = physX[i] + weight[i] * unit / 2;
                double mid = (top + physBottom) / 2.0;
                lines.append(String.format(
                        Locale.ROOT,
                        "<path class=\"link\" d=\"M%.1f %d C%.1f %.1f %.1f %.1f %.1f %d\""
                                + " fill=\"none\" stroke=\"%s\" stroke-width=\"1.5\" stroke-opacity=\"0.75\"/>%n",
                        from,
                        top,
                        from,
                        mid,
                        to,
                        mid,
                        to,
                        physBottom,
                        STROKE[i % STROKE.length]));
            }
            y = top + BAR + GUTTER;
        }
        y -= GUTTER - LINE - LINE / 2;
        for (String row : table) {
            out.append(text(MARGIN, y, row, "start", false));
            y += LINE;
        }
        int height = y - LINE + MARGIN;
        return String.format(
                        Locale.ROOT,
                        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%d\" height=\"%d\""
                                + " viewBox=\"0 0 %d %d\" font-family=\"monospace\" font-size=\"%d\" xml:space=\"preserve\">%n",
                        width,
                        height,
                        width,
                        height,
                        FONT)
                + "<rect width=\"100%\" height=\"100%\" fill=\"white\"/>\n" + lines + out + "</svg>\n";
    }

    private static String scaleLine(boolean log, long min, long max, double unit) {
        String span =
                "block lengths " + BackendsCommand.human(min) + (min == max ? "" : " to " + BackendsCommand.human(max));
        return log
                ? String.format(
                        Locale.ROOT,
                        "widths: logarithmic scale (%s): (1 + log2(length / %s)) x %.1f px",
                        span,
                        BackendsCommand.human(min),
                        unit)
                : String.format(
                        Locale.ROOT,
                        "widths: linear scale (%s): %.1f px per %s",
                        span,
                        unit,
                        BackendsCommand.human(min));
    }

    private static List<String> table(
            SharedBuffer buffer, List<IommuDomain> domains, List<ScatterList.Segment> blocks, long[] offset) {
        int pa = "physical block".length();
        for (ScatterList.Segment s : blocks) {
            pa = Math.max(pa, Hex.range(s.pa(), s.length()).length());
        }
        int[] col = new int[domains.size()];
        StringBuilder header =
                new StringBuilder(String.format("%-4s %-" + pa + "s  %-8s", "#", "physical block", "length"));
        for (int c = 0; c < domains.size(); c++) {
            String name = domains.get(c).iommu().name();
            col[c] = Math.max(
                    name.length(),
                    Hex.of(buffer.iova(domains.get(c)) + buffer.length()).length());
            header.append("  ").append(String.format("%-" + col[c] + "s", name));
        }
        List<String> rows = new ArrayList<>();
        rows.add(header.toString().stripTrailing());
        for (int i = 0; i < Math.min(blocks.size(), TABLE_ROWS); i++) {
            ScatterList.Segment s = blocks.get(i);
            StringBuilder row = new StringBuilder(String.format(
                    "%-4s %-" + pa + "s  %-8s",
                    "#" + (i + 1),
                    Hex.range(s.pa(), s.length()),
                    BackendsCommand.human(s.length())));
            for (int c = 0; c < domains.size(); c++) {
                row.append("  ")
                        .append(String.format("%-" + col[c] + "s", Hex.of(buffer.iova(domains.get(c)) + offset[i])));
            }
            rows.add(row.toString().stripTrailing());
        }
        if (blocks.size() > TABLE_ROWS) {
            rows.add("... and " + (blocks.size() - TABLE_ROWS) + " more blocks (share --json lists every one)");
        }
        return rows;
    }

    private static String block(double x, int y, double w, int i) {
        String label = "#" + (i + 1);
        String rect = String.format(
                Locale.ROOT,
                "<rect x=\"%.1f\" y=\"%d\" width=\"%.1f\" height=\"%d\" fill=\"%s\"" + " stroke=\"%s\"/>%n",
                x,
                y,
                w,
                BAR,
                FILL[i % FILL.length],
                STROKE[i % STROKE.length]);
        return label.length() * CHAR + 6 <= w
                ? rect + text(x + w / 2, y + BAR / 2 + FONT / 2 - 2, label, "middle", false)
                : rect;
    }

    /** A lane's title on a white ground, so the lines passing behind it never cross the text. */
    private static String title(double x, int y, String s) {
        return String.format(
                        Locale.ROOT,
                        "<rect class=\"ground\" x=\"%.1f\" y=\"%d\" width=\"%.1f\" height=\"%d\""
                                + " fill=\"white\"/>%n",
                        x - 3,
                        y - FONT,
                        s.length() * CHAR + 6,
                        FONT + 5)
                + text(x, y, s, "start", true);
    }

    private static String text(double x, int y, String s, String anchor, boolean bold) {
        return String.format(
                Locale.ROOT,
                "<text x=\"%.1f\" y=\"%d\" text-anchor=\"%s\"%s>%s</text>%n",
                x,
                y,
                anchor,
                bold ? " font-weight=\"bold\"" : "",
                s.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;"));
    }

    @SafeVarargs
    private static List<String> concat(List<String>... lists) {
        List<String> out = new ArrayList<>();
        for (List<String> l : lists) {
            out.addAll(l);
        }
        return out;
    }
}
