package org.dmashare.testkit;

import java.util.List;
import java.util.Optional;
import org.assertj.core.api.AbstractAssert;
import org.dmashare.Hex;
import org.dmashare.iommu.IommuDomain;
import org.dmashare.iommu.Translation;
import org.dmashare.sharing.ScatterList;
import org.dmashare.sharing.SharedBuffer;

/**
 * Assertions about a {@link SharedBuffer}: the guarantees of DESIGN.md that a backend can break,
 * checked by walking the page tables in memory through an attached stream
 * ({@link org.dmashare.iommu.Iommu#walk(int, long)}), never through {@code iovaToPhys}. Obtain one
 * with {@link DmaShareAssertions#assertThat(SharedBuffer)}.
 */
public final class SharedBufferAssert extends AbstractAssert<SharedBufferAssert, SharedBuffer> {

    SharedBufferAssert(SharedBuffer actual) {
        super(actual, SharedBufferAssert.class);
    }

    /**
     * Guarantee 1, contiguous: the buffer occupies one IOVA range in {@code domain} and every
     * byte {@code o} of it translates to the physical address of byte {@code o} of the buffer.
     *
     * @param domain a domain the buffer is mapped into, with a device attached
     * @return this
     * @throws AssertionError if the buffer is not mapped there, no device is attached, or an IOVA
     *     translates elsewhere (the message names the first one and what the walk found)
     */
    public SharedBufferAssert isContiguousIn(IommuDomain domain) {
        isNotNull();
        if (!actual.isMappedIn(domain)) {
            failWithMessage("expected %s to be mapped into %s, but it is not", actual, domain);
        }
        int sid = HardwareView.stream(domain);
        if (sid < 0) {
            failWithMessage(HardwareView.noStream(domain));
        }
        long iova = actual.iova(domain);
        long offset = 0;
        for (ScatterList.Segment s : actual.blocks()) {
            long inSegment = 0;
            while (inSegment < s.length()) {
                long at = iova + offset + inSegment;
                Optional<Translation> t = HardwareView.walk(domain, sid, at);
                long want = s.pa() + inSegment;
                if (t.isEmpty() || t.get().pa() != want) {
                    failWithMessage(
                            "guarantee 1 (contiguous) broken: byte %s of %s should be at IOVA %s in %s and"
                                    + " translate to %s, but the hardware walk of stream %d found %s",
                            Hex.of(offset + inSegment),
                            actual,
                            Hex.of(at),
                            domain,
                            Hex.of(want),
                            sid,
                            t.map(Translation::toString).orElse("no translation"));
                }
                long pageSize = t.get().pageSize();
                long leafEnd = (at & -pageSize) + pageSize;
                inSegment = Math.min(s.length(), inSegment + (leafEnd - at));
            }
            offset += s.length();
        }
        return this;
    }

    /**
     * Guarantee 1 for every domain the buffer is mapped into.
     *
     * @return this
     * @throws AssertionError as {@link #isContiguousIn(IommuDomain)}
     */
    public SharedBufferAssert isContiguousInEveryDomain() {
        isNotNull();
        for (SharedBuffer.Mapping m : actual.mappings()) {
            isContiguousIn(m.domain());
        }
        return this;
    }

    /**
     * Guarantee 2, aligned: the IOVA in every domain, every block's address and length, and the
     * mapped length are multiples of the buffer's alignment A, and A is at least every mapped
     * domain's granule.
     *
     * @return this
     * @throws AssertionError naming the first misaligned value
     */
    public SharedBufferAssert isAligned() {
        isNotNull();
        long a = actual.alignment();
        if (Long.bitCount(a) != 1) {
            failWithMessage(
                    "guarantee 2 (aligned) broken: alignment %s of %s is not a power of two", Hex.of(a), actual);
        }
        if (actual.length() % a != 0) {
            failWithMessage(
                    "guarantee 2 (aligned) broken: length %s of %s is not a multiple of A = %s",
                    Hex.of(actual.length()), actual, Hex.size(a));
        }
        int i = 0;
        for (ScatterList.Segment s : actual.blocks()) {
            if (s.pa() % a != 0 || s.length() % a != 0) {
                failWithMessage(
                        "guarantee 2 (aligned) broken: block %d %s of %s is not aligned to A = %s",
                        i, s, actual, Hex.size(a));
            }
            i++;
        }
        for (SharedBuffer.Mapping m : actual.mappings()) {
            if (m.iova() % a != 0) {
                failWithMessage(
                        "guarantee 2 (aligned) broken: IOVA %s in %s is not a multiple of A = %s",
                        Hex.of(m.iova()), m.domain(), Hex.size(a));
            }
            if (a % m.domain().granule() != 0) {
                failWithMessage(
                        "guarantee 2 (aligned) broken: A = %s is not a multiple of the granule %s of %s",
                        Hex.size(a), Hex.size(m.domain().granule()), m.domain());
            }
        }
        return this;
    }

    /**
     * Guarantee 3, no over-exposure: in every domain the buffer is mapped into (with a device
     * attached), every leaf the hardware walk meets inside the buffer's IOVA range lies wholly
     * inside the buffer's own blocks, so no byte outside them is reachable through the range.
     *
     * @return this
     * @throws AssertionError naming the first leaf that reaches outside the blocks
     */
    public SharedBufferAssert hasNoOverExposure() {
        isNotNull();
        List<ScatterList.Segment> blocks = actual.blocks().segments();
        for (SharedBuffer.Mapping m : actual.mappings()) {
            IommuDomain d = m.domain();
            int sid = HardwareView.stream(d);
            if (sid < 0) {
                failWithMessage(HardwareView.noStream(d));
            }
            long at = m.iova();
            long end = m.iova() + actual.length();
            while (at < end) {
                Optional<Translation> t = HardwareView.walk(d, sid, at);
                if (t.isEmpty()) {
                    at += d.granule();
                    continue;
                }
                long pageSize = t.get().pageSize();
                long leafPa = t.get().pa() & -pageSize;
                if (!covered(blocks, leafPa, pageSize)) {
                    failWithMessage(
                            "guarantee 3 (no over-exposure) broken: IOVA %s of %s in %s is mapped by the leaf %s,"
                                    + " which reaches physical %s outside the buffer's blocks %s",
                            Hex.of(at), actual, d, t.get(), Hex.range(leafPa, pageSize), blocks);
                }
                at = (at & -pageSize) + pageSize;
            }
        }
        return this;
    }

    /**
     * Guarantee 7, identical IOVA: the buffer has the same IOVA in every domain it is mapped into.
     *
     * @return this
     * @throws AssertionError naming two domains whose IOVAs differ
     */
    public SharedBufferAssert hasTheSameIovaInEveryDomain() {
        isNotNull();
        List<SharedBuffer.Mapping> ms = actual.mappings();
        for (SharedBuffer.Mapping m : ms) {
            if (m.iova() != ms.get(0).iova()) {
                failWithMessage(
                        "guarantee 7 (identical IOVA) broken: %s is at %s in %s but at %s in %s",
                        actual, Hex.of(ms.get(0).iova()), ms.get(0).domain(), Hex.of(m.iova()), m.domain());
            }
        }
        return this;
    }

    /** Whether [pa, pa + size) lies inside the union of the blocks. */
    private static boolean covered(List<ScatterList.Segment> blocks, long pa, long size) {
        long at = pa;
        long end = pa + size;
        boolean progress = true;
        while (at < end && progress) {
            progress = false;
            for (ScatterList.Segment s : blocks) {
                if (at >= s.pa() && at < s.end()) {
                    at = s.end();
                    progress = true;
                }
            }
        }
        return at >= end;
    }
}
