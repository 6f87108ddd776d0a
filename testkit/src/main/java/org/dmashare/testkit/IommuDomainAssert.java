package org.dmashare.testkit;

import java.util.Optional;
import org.assertj.core.api.AbstractAssert;
import org.dmashare.Hex;
import org.dmashare.iommu.IommuDomain;
import org.dmashare.iommu.Translation;

/**
 * Assertions about an {@link IommuDomain}, read through the hardware walk
 * ({@link org.dmashare.iommu.Iommu#walk(int, long)}) of the lowest-numbered stream attached to it.
 * Obtain one with {@link DmaShareAssertions#assertThat(IommuDomain)}. Every failure names the
 * domain, the IOVA and what the walk found.
 */
public final class IommuDomainAssert extends AbstractAssert<IommuDomainAssert, IommuDomain> {

    IommuDomainAssert(IommuDomain actual) {
        super(actual, IommuDomainAssert.class);
    }

    private int stream() {
        isNotNull();
        int sid = HardwareView.stream(actual);
        if (sid < 0) {
            failWithMessage(HardwareView.noStream(actual));
        }
        return sid;
    }

    /**
     * Asserts that a device reaches some physical address at {@code iova}, and returns an object
     * for asserting where.
     *
     * @param iova the device address
     * @return assertions about the translation found
     * @throws AssertionError if no device is attached or the walk finds no valid leaf
     */
    public TranslationAssert translates(long iova) {
        int sid = stream();
        Optional<Translation> t = HardwareView.walk(actual, sid, iova);
        if (t.isEmpty()) {
            failWithMessage(
                    "expected IOVA %s to translate in %s, but the hardware walk of stream %d found no valid" + " leaf",
                    Hex.of(iova), actual, sid);
        }
        TranslationAssert next = new TranslationAssert(t.get(), actual, sid);
        return info.description() == null ? next : next.as(info.description());
    }

    /**
     * Asserts that the hardware walk finds no translation for {@code iova}.
     *
     * @param iova the device address
     * @return this
     * @throws AssertionError if a device could reach memory through {@code iova}
     */
    public IommuDomainAssert doesNotTranslate(long iova) {
        int sid = stream();
        Optional<Translation> t = HardwareView.walk(actual, sid, iova);
        if (t.isPresent()) {
            failWithMessage(
                    "expected IOVA %s to have no translation in %s, but the hardware walk of stream %d found %s",
                    Hex.of(iova), actual, sid, t.get());
        }
        return this;
    }

    /**
     * Asserts that no granule of {@code [iova, iova + size)} translates.
     *
     * @param iova first device address
     * @param size bytes
     * @return this
     * @throws AssertionError naming the first granule that translates
     */
    public IommuDomainAssert doesNotTranslateAnyOf(long iova, long size) {
        int sid = stream();
        long granule = actual.granule();
        for (long at = iova & -granule; at < iova + size; at += granule) {
            Optional<Translation> t = HardwareView.walk(actual, sid, at);
            if (t.isPresent()) {
                failWithMessage(
                        "expected no translation in %s of %s, but the hardware walk of stream %d found %s",
                        actual, Hex.range(iova, size), sid, t.get());
            }
        }
        return this;
    }

    /**
     * Asserts that every byte of {@code [iova, iova + size)} translates to the byte at the same
     * offset of {@code [pa, pa + size)}.
     *
     * @param iova first device address
     * @param pa first physical address
     * @param size bytes, positive
     * @return this
     * @throws AssertionError naming the first IOVA that does not
     */
    public IommuDomainAssert translatesRange(long iova, long pa, long size) {
        int sid = stream();
        long at = iova;
        while (at < iova + size) {
            Optional<Translation> t = HardwareView.walk(actual, sid, at);
            long want = pa + (at - iova);
            if (t.isEmpty() || t.get().pa() != want) {
                failWithMessage(
                        "expected %s in %s to translate to %s, but at IOVA %s the hardware walk of stream %d"
                                + " found %s instead of %s",
                        Hex.range(iova, size),
                        actual,
                        Hex.range(pa, size),
                        Hex.of(at),
                        sid,
                        t.map(Translation::toString).orElse("no translation"),
                        Hex.of(want));
            }
            long leafEnd = (at & -t.get().pageSize()) + t.get().pageSize();
            at = Math.min(leafEnd, iova + size);
        }
        return this;
    }

    /**
     * Asserts the domain's granule.
     *
     * @param granule expected smallest page size in bytes
     * @return this
     * @throws AssertionError if it differs
     */
    public IommuDomainAssert hasGranule(long granule) {
        isNotNull();
        if (actual.granule() != granule) {
            failWithMessage(
                    "expected %s to have granule %s but it reports %s",
                    actual, Hex.size(granule), Hex.size(actual.granule()));
        }
        return this;
    }
}
