package org.dmashare.testkit;

import org.assertj.core.api.AbstractAssert;
import org.dmashare.Hex;
import org.dmashare.iommu.Access;
import org.dmashare.iommu.IommuDomain;
import org.dmashare.iommu.Translation;

/**
 * Assertions about one translation found by the hardware walk, obtained from
 * {@link IommuDomainAssert#translates(long)}: where it leads, how large its leaf is, what it
 * allows.
 */
public final class TranslationAssert extends AbstractAssert<TranslationAssert, Translation> {
    private final IommuDomain domain;
    private final int stream;

    TranslationAssert(Translation actual, IommuDomain domain, int stream) {
        super(actual, TranslationAssert.class);
        this.domain = domain;
        this.stream = stream;
    }

    /**
     * Asserts the physical address the IOVA reaches.
     *
     * @param pa expected physical address of the translated byte
     * @return this
     * @throws AssertionError if the walk reached another address
     */
    public TranslationAssert to(long pa) {
        if (actual.pa() != pa) {
            failWithMessage(
                    "expected IOVA %s in %s to translate to %s, but the hardware walk of stream %d found %s",
                    Hex.of(actual.iova()), domain, Hex.of(pa), stream, actual);
        }
        return this;
    }

    /**
     * Asserts the size of the leaf (page or block) that maps the IOVA.
     *
     * @param size expected leaf size in bytes
     * @return this
     * @throws AssertionError if the leaf has another size
     */
    public TranslationAssert withLeafSize(long size) {
        if (actual.pageSize() != size) {
            failWithMessage(
                    "expected IOVA %s in %s to be mapped by a %s leaf, but the hardware walk of stream %d found"
                            + " %s",
                    Hex.of(actual.iova()), domain, Hex.size(size), stream, actual);
        }
        return this;
    }

    /**
     * Asserts that the leaf allows {@code access}.
     *
     * @param access read or write
     * @return this
     * @throws AssertionError if the leaf forbids it
     */
    public TranslationAssert allowing(Access access) {
        if (!actual.prot().allows(access)) {
            failWithMessage(
                    "expected IOVA %s in %s to allow %s, but the leaf found by the hardware walk is %s",
                    Hex.of(actual.iova()), domain, access, actual);
        }
        return this;
    }

    /**
     * Asserts that the leaf forbids {@code access}.
     *
     * @param access read or write
     * @return this
     * @throws AssertionError if the leaf allows it
     */
    public TranslationAssert forbidding(Access access) {
        if (actual.prot().allows(access)) {
            failWithMessage(
                    "expected IOVA %s in %s to forbid %s, but the leaf found by the hardware walk is %s",
                    Hex.of(actual.iova()), domain, access, actual);
        }
        return this;
    }
}
