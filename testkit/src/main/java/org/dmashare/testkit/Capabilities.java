package org.dmashare.testkit;

import java.util.Objects;
import java.util.Optional;
import org.dmashare.Hex;
import org.dmashare.InvalidArgumentException;
import org.dmashare.iommu.IommuDomain;
import org.dmashare.pgtable.TableLifetime;
import org.dmashare.pgtable.UnmapPolicy;

/**
 * What a backend declares about the IOMMU units its kit subclass creates. The kit checks that the
 * backend does what it declares and, for an optional capability it does not declare, that it
 * behaves as a backend without it (see each component). Build one with {@link #builder(long)}.
 *
 * @param granule the smallest page size every paging domain reports, a power of two
 * @param pageSizes the page-size bitmap every paging domain reports (bit n: 2^n bytes); includes
 *     the granule
 * @param streams number of streams the kit asks {@code createIommu} for, at least 1; the rules of
 *     stream isolation ({@link KitRule#STREAM_1}, {@link KitRule#STREAM_2}) are checked with 2 or
 *     more and not generated with 1
 * @param blockMappings map uses leaves larger than the granule when alignment and length allow;
 *     when not declared, map must use granule pages only, even for a block-sized aligned range
 * @param bypass the unit creates identity (bypass) domains; when not declared, it must refuse
 *     them with {@link InvalidArgumentException}
 * @param writeOnly the format can express write-only mappings ({@code Prot.WRITE}); when not
 *     declared, such a map must be refused with {@link InvalidArgumentException}
 * @param tableLifetime when unmap frees a table, as the format declares it
 *     ({@link TableLifetime#UNTIL_FREED}: only when the domain is closed;
 *     {@link TableLifetime#WHOLE_BLOCK}: when one unmap covers the whole block-sized range the
 *     table maps; {@link TableLifetime#WHOLE_RANGE}: when one unmap covers its whole range, at
 *     any level); a table that an unmap only empties stays in every case ({@link
 *     KitRule#TABLE_3})
 * @param subPageProtection how to restrict device access within one page, if the hardware has
 *     sub-page protection (DART's SPP); null if it has none, and then no leaf may have a sub-page
 *     window
 * @param unmapPolicy what unmap does with a leaf the range cuts, as the format declares it
 *     ({@link UnmapPolicy#REFUSE_CUT}: refused, nothing changes;
 *     {@link UnmapPolicy#WHOLE_ENTRY_FROM_START}: a leaf starting inside the range is removed whole
 *     and counted whole, a range starting inside a leaf is refused)
 */
public record Capabilities(
        long granule,
        long pageSizes,
        int streams,
        boolean blockMappings,
        boolean bypass,
        boolean writeOnly,
        TableLifetime tableLifetime,
        SubPageProtection subPageProtection,
        UnmapPolicy unmapPolicy) {

    /**
     * Restricts device access within one page, through the backend's own API: the SPI has no
     * call for it, so a backend with sub-page protection tells the kit how.
     */
    @FunctionalInterface
    public interface SubPageProtection {
        /**
         * Allows device access only to bytes {@code [first, last]} of the granule page at
         * {@code iova} of {@code domain}; accesses to the rest of that page must fault with
         * {@link org.dmashare.iommu.IommuFault.Reason#SUBPAGE}. The kit passes a window of whole
         * quarter pages ({@code first} and {@code last + 1} are multiples of a quarter of the
         * granule), so hardware with coarse sub-page units can express it exactly.
         *
         * @param domain a paging domain where {@code iova} is mapped
         * @param iova the page's IOVA, granule-aligned
         * @param first first allowed byte offset within the page
         * @param last last allowed byte offset within the page (inclusive)
         */
        void restrict(IommuDomain domain, long iova, long first, long last);
    }

    /**
     * Validates the declaration.
     *
     * @param granule a power of two, at least 4 KiB
     * @param pageSizes a bitmap containing the granule and no smaller size
     * @param streams at least 1
     * @param blockMappings block leaves are used; needs a page size above the granule
     * @param bypass identity domains are supported
     * @param writeOnly write-only mappings can be expressed
     * @param tableLifetime the declared table lifetime
     * @param subPageProtection the hook, or null
     * @param unmapPolicy the declared unmap policy
     * @throws InvalidArgumentException if the declaration is inconsistent
     * @throws NullPointerException if {@code unmapPolicy} or {@code tableLifetime} is null
     */
    public Capabilities {
        Objects.requireNonNull(unmapPolicy, "unmapPolicy");
        Objects.requireNonNull(tableLifetime, "tableLifetime");
        if (granule < 4096 || Long.bitCount(granule) != 1) {
            throw new InvalidArgumentException(
                    "granule must be a power of two of at least 4 KiB, got " + Hex.of(granule));
        }
        if ((pageSizes & granule) == 0 || (pageSizes & (granule - 1)) != 0) {
            throw new InvalidArgumentException("page sizes " + Hex.of(pageSizes) + " must include the granule "
                    + Hex.size(granule) + " and nothing smaller");
        }
        if (streams < 1) {
            throw new InvalidArgumentException("the kit needs at least one stream, got " + streams);
        }
        if (blockMappings && pageSizes == granule) {
            throw new InvalidArgumentException("block mappings declared but the page sizes " + Hex.of(pageSizes)
                    + " hold nothing larger than the granule " + Hex.size(granule));
        }
    }

    /**
     * The declared capabilities, sizes and the page-size bitmap in hex.
     *
     * @return a readable description
     */
    @Override
    public String toString() {
        return "Capabilities[granule " + Hex.size(granule) + ", page sizes " + Hex.of(pageSizes) + ", streams "
                + streams
                + ", blockMappings " + blockMappings + ", bypass " + bypass + ", writeOnly " + writeOnly
                + ", tableLifetime " + tableLifetime + ", subPageProtection " + (subPageProtection != null)
                + ", unmapPolicy " + unmapPolicy + "]";
    }

    /**
     * Starts a declaration for units of {@code granule}: page sizes = the granule only, 2 streams,
     * nothing else declared, the unmap policy {@link UnmapPolicy#REFUSE_CUT} and the table lifetime
     * {@link TableLifetime#WHOLE_BLOCK} (the engine's defaults).
     *
     * @param granule the smallest page size, a power of two
     * @return a builder
     */
    public static Builder builder(long granule) {
        return new Builder(granule);
    }

    /**
     * The sub-page protection hook, if declared.
     *
     * @return the hook
     */
    public Optional<SubPageProtection> subPage() {
        return Optional.ofNullable(subPageProtection);
    }

    /**
     * The smallest declared page size above the granule that is at least {@code floor}: the block
     * the kit's randomised check maps, which needs room for 16 granules.
     *
     * @param floor the least size wanted
     * @return the size, or 0 if the page sizes hold none
     */
    public long smallestBlockAtLeast(long floor) {
        long above = pageSizes & ~(Math.max(granule << 1, floor) - 1);
        return Long.lowestOneBit(above);
    }

    /**
     * The smallest page size above the granule, the block the kit maps when block mappings are
     * declared.
     *
     * @return the block size, or 0 if the page sizes hold none
     */
    public long smallestBlock() {
        long above = pageSizes & ~((granule << 1) - 1);
        return Long.lowestOneBit(above);
    }

    /** Builds {@link Capabilities}. */
    public static final class Builder {
        private final long granule;
        private long pageSizes;
        private int streams = 2;
        private boolean blockMappings;
        private boolean bypass;
        private boolean writeOnly;
        private TableLifetime tableLifetime = TableLifetime.WHOLE_BLOCK;
        private SubPageProtection subPageProtection;
        private UnmapPolicy unmapPolicy = UnmapPolicy.REFUSE_CUT;

        private Builder(long granule) {
            this.granule = granule;
            this.pageSizes = granule;
        }

        /**
         * Declares the page-size bitmap domains report.
         *
         * @param bitmap bit n set: 2^n-byte pages
         * @return this builder
         */
        public Builder pageSizes(long bitmap) {
            this.pageSizes = bitmap;
            return this;
        }

        /**
         * Sets how many streams the kit asks for.
         *
         * @param count at least 1
         * @return this builder
         */
        public Builder streams(int count) {
            this.streams = count;
            return this;
        }

        /**
         * Declares that map uses block leaves.
         *
         * @param value true if it does
         * @return this builder
         */
        public Builder blockMappings(boolean value) {
            this.blockMappings = value;
            return this;
        }

        /**
         * Declares identity (bypass) domains.
         *
         * @param value true if supported
         * @return this builder
         */
        public Builder bypass(boolean value) {
            this.bypass = value;
            return this;
        }

        /**
         * Declares write-only mappings.
         *
         * @param value true if the format expresses them
         * @return this builder
         */
        public Builder writeOnly(boolean value) {
            this.writeOnly = value;
            return this;
        }

        /**
         * Declares when unmap frees a table. Default: {@link TableLifetime#WHOLE_BLOCK}.
         *
         * @param lifetime the format's lifetime
         * @return this builder
         * @throws NullPointerException if {@code lifetime} is null
         */
        public Builder tableLifetime(TableLifetime lifetime) {
            this.tableLifetime = Objects.requireNonNull(lifetime, "lifetime");
            return this;
        }

        /**
         * Declares sub-page protection and how to apply it.
         *
         * @param hook restricts access within a page through the backend's API
         * @return this builder
         */
        public Builder subPageProtection(SubPageProtection hook) {
            this.subPageProtection = Objects.requireNonNull(hook, "hook");
            return this;
        }

        /**
         * Declares what unmap does with a leaf the range cuts. Default:
         * {@link UnmapPolicy#REFUSE_CUT}.
         *
         * @param policy the format's policy
         * @return this builder
         * @throws NullPointerException if {@code policy} is null
         */
        public Builder unmapPolicy(UnmapPolicy policy) {
            this.unmapPolicy = Objects.requireNonNull(policy, "policy");
            return this;
        }

        /**
         * Builds the declaration.
         *
         * @return the capabilities
         * @throws InvalidArgumentException if inconsistent
         */
        public Capabilities build() {
            return new Capabilities(
                    granule,
                    pageSizes,
                    streams,
                    blockMappings,
                    bypass,
                    writeOnly,
                    tableLifetime,
                    subPageProtection,
                    unmapPolicy);
        }
    }
}
