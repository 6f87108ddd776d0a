package org.dmashare.examples.cli;

import static org.assertj.core.api.Assertions.assertThat;

import java.awt.geom.AffineTransform;
import java.awt.geom.Rectangle2D;
import java.io.ByteArrayOutputStream;
import java.io.StringReader;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.apache.batik.anim.dom.SAXSVGDocumentFactory;
import org.apache.batik.bridge.BridgeContext;
import org.apache.batik.bridge.DocumentLoader;
import org.apache.batik.bridge.GVTBuilder;
import org.apache.batik.bridge.TextNode;
import org.apache.batik.bridge.UserAgentAdapter;
import org.apache.batik.gvt.CompositeGraphicsNode;
import org.apache.batik.gvt.GraphicsNode;
import org.apache.batik.transcoder.TranscoderInput;
import org.apache.batik.transcoder.TranscoderOutput;
import org.apache.batik.transcoder.image.PNGTranscoder;
import org.apache.batik.util.XMLResourceDescriptor;
import org.assertj.core.data.Offset;
import org.assertj.core.data.Percentage;
import org.dmashare.iommu.Iommu;
import org.dmashare.iommu.IommuBackends;
import org.dmashare.iommu.IommuConfig;
import org.dmashare.iommu.IommuDomain;
import org.dmashare.memory.PageUse;
import org.dmashare.memory.PhysicalMemory;
import org.dmashare.sharing.DmaSharing;
import org.dmashare.sharing.ScatterList;
import org.dmashare.sharing.SharedBuffer;
import org.junit.jupiter.api.Test;
import org.w3c.dom.svg.SVGDocument;

/**
 * The {@code share --svg} picture, rendered with Apache Batik: it renders, no text leaves the
 * canvas or overlaps other text, every chunk number sits inside its box, widths are to scale (the
 * legend naming the scale), and every IOVA chunk is joined to the physical block it maps.
 */
class SvgLayoutTest {
    private static final Pattern RECT =
            Pattern.compile("<rect x=\"([\\d.]+)\" y=\"(\\d+)\" width=\"([\\d.]+)\" height=\"(\\d+)\"");
    /** A link from (1, 2), the chunk's top centre, to (3, 4), the block's bottom centre. */
    private static final Pattern LINE = Pattern.compile(
            "<path class=\"link\" d=\"M([\\d.]+) (\\d+) C[\\d.]+ [\\d.]+ [\\d.]+ [\\d.]+ ([\\d.]+) (\\d+)\"");

    record Drawing(String svg, SharedBuffer buffer, List<IommuDomain> domains) {}

    private static Drawing draw(PhysicalMemory memory, long size, String... domains) {
        List<IommuDomain> created = new ArrayList<>();
        for (int i = 0; i < domains.length; i++) {
            String[] bv = domains[i].split(":");
            Iommu iommu = IommuBackends.find(bv[0])
                    .create(
                            IommuConfig.builder(bv[1])
                                    .name(bv[0] + "-" + bv[1] + "-" + i)
                                    .build(),
                            memory);
            IommuDomain d = iommu.createDomain();
            iommu.device(0).attach(d);
            created.add(d);
        }
        SharedBuffer buffer = new DmaSharing(memory).allocate(size, created);
        return new Drawing(Svg.render(buffer, created), buffer, created);
    }

    private static PhysicalMemory memory() {
        return PhysicalMemory.create(0x8_0000_0000L, 1L << 32, 4096);
    }

    /** 2 MiB of 16 KiB blocks with every other one taken: a share gets many blocks, none adjacent. */
    private static PhysicalMemory fragmented() {
        PhysicalMemory memory = PhysicalMemory.create(0x8_0000_0000L, 2L << 20, 4096);
        for (long pa = memory.base(); pa < memory.end(); pa += 0x8000) {
            memory.allocator().allocateAt(pa, 0x4000, PageUse.BUFFER);
        }
        return memory;
    }

    @Test
    void threeDomainsOfThreeGranulesRenderWithEveryTextInsideTheCanvas() throws Exception {
        Drawing d = draw(memory(), 200 * 1024, "generic:lpae-4k", "apple-dart:t8020", "generic:lpae-64k");
        checkRendering(d);
        assertThat(d.svg()).contains("alignment A = 64 KiB").contains("widths: linear scale");
    }

    @Test
    void blocksOfVeryDifferentLengthsAreDrawnOnALogScaleTheLegendNames() throws Exception {
        Drawing d = draw(memory(), (4L << 20) - 4096, "generic:lpae-4k", "generic:lpae-4k");
        assertThat(d.buffer().blocks().segments()).hasSizeGreaterThan(8);
        checkRendering(d);
        assertThat(d.svg()).contains("widths: logarithmic scale (block lengths 4K to 2M)");
    }

    @Test
    void manyScatteredBlocksKeepTheirLabelsInsideTheirBoxesAndTheTableShort() throws Exception {
        Drawing d = draw(fragmented(), 30 * 0x4000, "apple-dart:t8020", "generic:lpae-16k", "generic:lpae-4k");
        assertThat(d.buffer().blocks().segments()).hasSize(30);
        checkRendering(d);
        assertThat(d.svg()).contains("// marks a gap").contains("... and 6 more blocks");
    }

    @Test
    void aSingleBlockInOneDomainRenders() throws Exception {
        Drawing d = draw(memory(), 4096, "generic:lpae-4k");
        checkRendering(d);
        assertThat(d.svg()).contains("1 block, 1 domain");
    }

    /**
     * Writes target/share-layout.png, the README's picture ({@code share --domain generic:lpae-4k
     * --domain apple-dart:t8020 --size 2000K}); docs/share-layout.png is a copy.
     */
    @Test
    void theReadmePictureRendersToPng() throws Exception {
        Drawing d = draw(memory(), 2000 * 1024, "generic:lpae-4k", "apple-dart:t8020");
        checkRendering(d);
        byte[] png = png(d.svg());
        Files.write(Path.of("target", "share-layout.png"), png);
        assertThat(png).startsWith(0x89, 'P', 'N', 'G');
    }

    private static void checkRendering(Drawing d) throws Exception {
        String svg = d.svg();
        assertThat(png(svg)).startsWith(0x89, 'P', 'N', 'G');
        double width = Double.parseDouble(attr(svg, "width"));
        double height = Double.parseDouble(attr(svg, "height"));
        List<Rectangle2D> rects = new ArrayList<>();
        Matcher r = RECT.matcher(svg);
        while (r.find()) {
            rects.add(new Rectangle2D.Double(
                    Double.parseDouble(r.group(1)),
                    Double.parseDouble(r.group(2)),
                    Double.parseDouble(r.group(3)),
                    Double.parseDouble(r.group(4))));
        }
        List<TextBox> texts = texts(svg);
        assertThat(texts).isNotEmpty();
        Rectangle2D canvas = new Rectangle2D.Double(0, 0, width, height);
        for (TextBox t : texts) {
            assertThat(canvas.contains(t.bounds()))
                    .as("text '%s' at %s inside the %sx%s canvas", t.text(), t.bounds(), width, height)
                    .isTrue();
            if (t.text().matches("#\\d+")) {
                assertThat(rects)
                        .as("the box holding label %s at %s", t.text(), t.bounds())
                        .anySatisfy(box -> assertThat(box.contains(t.bounds())).isTrue());
            }
        }
        for (int i = 0; i < texts.size(); i++) {
            for (int j = i + 1; j < texts.size(); j++) {
                assertThat(texts.get(i).bounds().intersects(texts.get(j).bounds()))
                        .as(
                                "'%s' overlaps '%s'",
                                texts.get(i).text(), texts.get(j).text())
                        .isFalse();
            }
        }
        checkScaleAndConnectors(d, rects);
    }

    /** Each chunk is as wide as the block it maps and its line ends on that block. */
    private static void checkScaleAndConnectors(Drawing d, List<Rectangle2D> rects) {
        int n = d.buffer().blocks().segments().size();
        List<Rectangle2D> boxes = rects; // the white background has no x and is not among them
        assertThat(boxes).hasSize(n * (1 + d.domains().size()));
        List<Rectangle2D> physical = boxes.subList(0, n);
        Matcher line = LINE.matcher(d.svg());
        for (int lane = 0; lane < d.domains().size(); lane++) {
            List<Rectangle2D> chunks = boxes.subList(n * (lane + 1), n * (lane + 2));
            for (int i = 0; i < n; i++) {
                Rectangle2D chunk = chunks.get(i);
                Rectangle2D block = physical.get(i);
                assertThat(chunk.getWidth())
                        .as("chunk %d of lane %d", i + 1, lane)
                        .isEqualTo(block.getWidth());
                if (i > 0) {
                    assertThat(chunk.getX())
                            .as("IOVA chunks are contiguous")
                            .isCloseTo(chunks.get(i - 1).getMaxX(), Offset.offset(0.15));
                }
                assertThat(line.find()).isTrue();
                assertThat(Double.parseDouble(line.group(1))).isCloseTo(chunk.getCenterX(), Offset.offset(0.15));
                assertThat(Double.parseDouble(line.group(2))).isEqualTo(chunk.getY());
                assertThat(Double.parseDouble(line.group(3)))
                        .as("line of chunk %d ends on its block", i + 1)
                        .isCloseTo(block.getCenterX(), Offset.offset(0.15));
                assertThat(Double.parseDouble(line.group(4))).isEqualTo(block.getMaxY());
            }
        }
        assertThat(line.find()).as("one line per chunk").isFalse();
        List<ScatterList.Segment> blocks = d.buffer().blocks().segments();
        if (d.svg().contains("linear scale")) {
            double perByte = physical.get(0).getWidth() / blocks.get(0).length();
            for (int i = 0; i < n; i++) {
                assertThat(physical.get(i).getWidth() / blocks.get(i).length())
                        .as("block %d to scale", i + 1)
                        .isCloseTo(perByte, Percentage.withPercentage(1));
            }
        }
    }

    record TextBox(String text, Rectangle2D bounds) {}

    /** Every text element as Batik lays it out, with its bounds on the canvas. */
    private static List<TextBox> texts(String svg) throws Exception {
        SAXSVGDocumentFactory factory = new SAXSVGDocumentFactory(XMLResourceDescriptor.getXMLParserClassName());
        SVGDocument doc = factory.createSVGDocument("file:/layout.svg", new StringReader(svg));
        UserAgentAdapter agent = new UserAgentAdapter();
        BridgeContext context = new BridgeContext(agent, new DocumentLoader(agent));
        context.setDynamicState(BridgeContext.STATIC);
        GraphicsNode root = new GVTBuilder().build(context, doc);
        List<TextBox> out = new ArrayList<>();
        collect(root, out);
        return out;
    }

    private static void collect(GraphicsNode node, List<TextBox> out) {
        if (node instanceof TextNode t) {
            AffineTransform at = t.getGlobalTransform() == null ? new AffineTransform() : t.getGlobalTransform();
            out.add(new TextBox(
                    t.getText(),
                    at.createTransformedShape(t.getPrimitiveBounds()).getBounds2D()));
        } else if (node instanceof CompositeGraphicsNode c) {
            for (Object child : c.getChildren()) {
                collect((GraphicsNode) child, out);
            }
        }
    }

    private static byte[] png(String svg) throws Exception {
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        new PNGTranscoder().transcode(new TranscoderInput(new StringReader(svg)), new TranscoderOutput(out));
        return out.toByteArray();
    }

    private static String attr(String svg, String name) {
        Matcher m = Pattern.compile("<svg [^>]*\\b" + name + "=\"(\\d+)\"").matcher(svg);
        assertThat(m.find()).isTrue();
        return m.group(1);
    }
}
