package org.dmashare.examples.cli;

import java.util.List;
import org.dmashare.Hex;
import org.dmashare.iommu.IommuDomain;
import org.dmashare.sharing.ScatterList;
import org.dmashare.sharing.SharedBuffer;

/**
 * Draws a shared buffer's layout: the physical blocks in a column on the left, each domain's IOVA
 * range in a column to the right, and a line from each block to where it sits in every range.
 */
final class Svg {
    private static final int ROW = 28;
    private static final int COLUMN = 260;

    private Svg() {
    }

    static String render(SharedBuffer buffer, List<IommuDomain> domains) {
        List<ScatterList.Segment> blocks = buffer.blocks().segments();
        int height = 70 + ROW * blocks.size();
        int width = 40 + COLUMN * (domains.size() + 1);
        StringBuilder out = new StringBuilder();
        out.append("<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"").append(width).append("\" height=\"")
                .append(height).append("\" font-family=\"monospace\" font-size=\"11\">\n");
        out.append(text(20, 20, "physical blocks (" + Hex.size(buffer.length()) + ", A = " + Hex.size(buffer.alignment()) + ")"));
        for (int c = 0; c < domains.size(); c++) {
            IommuDomain d = domains.get(c);
            out.append(text(20 + COLUMN * (c + 1), 20, d.iommu().name() + " @ " + Hex.of(buffer.iova(d))));
        }
        long offset = 0;
        for (int i = 0; i < blocks.size(); i++) {
            ScatterList.Segment s = blocks.get(i);
            int y = 40 + ROW * i;
            out.append(rect(20, y, COLUMN - 60, ROW - 6, "#cfe3ff"));
            out.append(text(26, y + 15, Hex.range(s.pa(), s.length())));
            for (int c = 0; c < domains.size(); c++) {
                int x = 20 + COLUMN * (c + 1);
                long iova = buffer.iova(domains.get(c)) + offset;
                out.append(rect(x, y, COLUMN - 60, ROW - 6, "#d9f2d0"));
                out.append(text(x + 6, y + 15, Hex.range(iova, s.length())));
                int fromX = c == 0 ? 20 + COLUMN - 60 : x - 60;
                out.append("<line x1=\"").append(fromX).append("\" y1=\"").append(y + (ROW - 6) / 2).append("\" x2=\"")
                        .append(x).append("\" y2=\"").append(y + (ROW - 6) / 2).append("\" stroke=\"#555\"/>\n");
            }
            offset += s.length();
        }
        out.append("</svg>\n");
        return out.toString();
    }

    private static String rect(int x, int y, int w, int h, String fill) {
        return "<rect x=\"" + x + "\" y=\"" + y + "\" width=\"" + w + "\" height=\"" + h + "\" fill=\"" + fill
                + "\" stroke=\"#333\"/>\n";
    }

    private static String text(int x, int y, String s) {
        return "<text x=\"" + x + "\" y=\"" + y + "\">" + s.replace("&", "&amp;").replace("<", "&lt;") + "</text>\n";
    }
}
