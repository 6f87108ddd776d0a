package org.dmashare.dmaapi;

import static org.assertj.core.api.Assertions.assertThat;

import java.util.ArrayList;
import java.util.List;
import java.util.Random;
import org.dmashare.memory.PageUse;
import org.dmashare.sharing.ScatterList;
import org.junit.jupiter.api.Test;

/**
 * The consequences iommu-dma.md section 4.3 derives by hand, checked on random tables against the
 * model: where each entry's data lands in IOVA space, when the buffer is contiguous, and how many
 * bytes are exposed. The model knows none of these formulas; they must follow from its rules.
 */
class DerivedConsequencesTest {
    private static final long G = 0x4000;

    private static long up(long x) {
        return (x + G - 1) & -G;
    }

    @Test
    void randomTablesLandWhereTheDerivedLayoutSaysAndExposeExactlyTheGranuleSlack() {
        long seed = Long.getLong("dmashare.test.seed", System.nanoTime());
        System.out.println("DerivedConsequencesTest seed " + seed);
        Random rnd = new Random(seed);
        int scale = Integer.getInteger("dmashare.test.scale", 1);
        for (int round = 0; round < 60 * scale; round++) {
            Rig rig = new Rig(Profile.ASAHI_GRANULE_NO_SGTABLE_GUARD);
            int n = 1 + rnd.nextInt(5);
            List<ScatterList.Segment> segs = new ArrayList<>();
            for (int k = 0; k < n; k++) {
                long region = 0x8_4000_0000L + k * 0x100_0000L + rnd.nextInt(64) * 0x1_0000L;
                rig.memory.allocator().allocateAt(region, 0x1_0000, PageUse.BUFFER);
                // offsets and lengths: mostly granule- or page-aligned, sometimes arbitrary bytes
                long off = switch (rnd.nextInt(3)) {
                    case 0 -> 0;
                    case 1 -> rnd.nextInt(4) * 0x1000L;
                    default -> rnd.nextInt(0x4000);
                };
                long len = switch (rnd.nextInt(3)) {
                    case 0 -> G - off % G;
                    case 1 -> (1 + rnd.nextInt(3)) * 0x1000L;
                    default -> 1 + rnd.nextInt(0x5000);
                };
                segs.add(new ScatterList.Segment(region + off, len));
                byte[] data = Rig.pattern((int) len, round * 7 + k);
                rig.memory.write(region + off, data);
            }
            SgTable sgt = SgTable.of(ScatterList.of(segs), 4096);
            String what = "seed " + seed + " round " + round + " table " + segs;

            rig.piodma.mapSgtable(sgt, DataDirection.BIDIRECTIONAL);

            List<DmaSegment> out = sgt.dmaSegments();
            long base = out.get(0).address() - segs.get(0).pa() % G;
            long cursor = base;
            long slack = 0;
            boolean joinsAligned = true;
            long total = 0;
            for (int k = 0; k < n; k++) {
                ScatterList.Segment s = segs.get(k);
                long off = s.pa() % G;
                long aligned = up(s.length() + off);
                assertThat(rig.piodma.dmaDevice().read(cursor + off, (int) s.length()))
                        .as(what)
                        .isEqualTo(rig.memory.read(s.pa(), (int) s.length()));
                if (k > 0
                        && (off != 0
                                || (segs.get(k - 1).pa() % G + segs.get(k - 1).length()) % G != 0)) {
                    joinsAligned = false;
                }
                cursor += aligned;
                slack += aligned - s.length();
                total += s.length();
            }
            long granules = (cursor - base) / G;
            long sizeAlignment = (granules == 1 ? 1 : Long.highestOneBit(granules - 1) << 1) * G;
            assertThat(base % sizeAlignment).as(what + ": IOVA size-aligned").isZero();
            if (joinsAligned && total <= 0x1_0000) {
                assertThat(out)
                        .as(what)
                        .containsExactly(new DmaSegment(out.get(0).address(), total));
            } else if (!joinsAligned) {
                assertThat(out.size()).as(what).isGreaterThan(1);
            }
            assertThat(out.stream().mapToLong(DmaSegment::length).sum())
                    .as(what)
                    .isEqualTo(total);
            assertThat(ExposureReport.forMapping(rig.piodma, sgt).exposedBytes())
                    .as(what)
                    .isEqualTo(slack);
            assertThat(sgt.cpuSegments()).as(what).isEqualTo(ScatterList.of(segs));

            rig.piodma.unmapSgtable(sgt, DataDirection.BIDIRECTIONAL);
            for (long iova = base; iova < cursor; iova += G) {
                assertThat(rig.walk(rig.piodma, iova)).as(what).isEqualTo(-1);
            }
            assertThat(rig.dma.warnings()).as(what).isEmpty();
        }
    }
}
