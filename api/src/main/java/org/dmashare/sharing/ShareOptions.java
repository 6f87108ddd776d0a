package org.dmashare.sharing;

import java.util.ArrayList;
import java.util.List;
import java.util.Objects;
import org.dmashare.Hex;
import org.dmashare.InvalidArgumentException;
import org.dmashare.ObjectClosedException;
import org.dmashare.iommu.DomainType;
import org.dmashare.iommu.IommuDomain;
import org.dmashare.iommu.Prot;

/**
 * How {@link DmaSharing} allocates and maps a buffer. The defaults ({@link #DEFAULTS}) map read
 * and write, add no alignment beyond the granules, choose IOVAs per domain, and declare no future
 * domains.
 *
 * @param prot rights of every mapping
 * @param alignment extra alignment requested, a power of two, or 0 for none
 * @param identicalIova map at the same IOVA in every domain (as iommufd's IOAS), including domains
 *     added later; the range is chosen free in the declared future domains too, so sharing with
 *     them later cannot find it taken at allocation time
 * @param futureDomains domains the buffer will be shared with later; their granules count towards
 *     the alignment but nothing is mapped into them now
 * @param futureGranule a granule (power of two, or 0) a later domain will need, when that domain
 *     does not exist yet
 */
public record ShareOptions(
        Prot prot, long alignment, boolean identicalIova, List<IommuDomain> futureDomains, long futureGranule) {

    /** Read-write, no extra alignment, per-domain IOVAs, no future domains. */
    public static final ShareOptions DEFAULTS = new ShareOptions(Prot.READ_WRITE, 0, false, List.of(), 0);

    /**
     * Validates and copies the fields.
     *
     * @param prot rights of every mapping
     * @param alignment power of two or 0
     * @param identicalIova same IOVA everywhere
     * @param futureDomains domains for later sharing
     * @param futureGranule power of two or 0
     * @throws NullPointerException if {@code prot}, {@code futureDomains} or one of them is null
     * @throws InvalidArgumentException if an alignment or granule is not a power of two, or a
     *     future domain is not a paging domain (an identity domain maps nothing)
     * @throws ObjectClosedException if a future domain is closed
     */
    public ShareOptions {
        Objects.requireNonNull(prot, "prot");
        Objects.requireNonNull(futureDomains, "futureDomains");
        futureDomains.forEach(ShareOptions::checkFutureDomain);
        futureDomains = List.copyOf(futureDomains);
        if (alignment < 0 || (alignment != 0 && Long.bitCount(alignment) != 1)) {
            throw new InvalidArgumentException("alignment must be 0 or a power of two, got " + Hex.of(alignment));
        }
        if (futureGranule < 0 || (futureGranule != 0 && Long.bitCount(futureGranule) != 1)) {
            throw new InvalidArgumentException(
                    "future granule must be 0 or a power of two, got " + Hex.of(futureGranule));
        }
    }

    /** Refuses a future domain no buffer could ever be shared with. */
    static void checkFutureDomain(IommuDomain d) {
        Objects.requireNonNull(d, "future domain");
        if (d.isClosed()) {
            throw new ObjectClosedException("future domain " + d + " is closed; a buffer can never be shared with it."
                    + " Accepted: open paging domains");
        }
        if (d.type() != DomainType.PAGING) {
            throw new InvalidArgumentException("future domain " + d + " is a " + d.type() + " domain; buffers can only"
                    + " be shared with paging domains");
        }
    }

    /**
     * Starts from the defaults.
     *
     * @return a builder
     */
    public static Builder builder() {
        return new Builder();
    }

    /** Builds {@link ShareOptions}. */
    public static final class Builder {
        private Prot prot = Prot.READ_WRITE;
        private long alignment;
        private boolean identicalIova;
        private final List<IommuDomain> futureDomains = new ArrayList<>();
        private long futureGranule;

        private Builder() {}

        /**
         * Sets the rights of every mapping.
         *
         * @param prot the rights
         * @return this builder
         */
        public Builder prot(Prot prot) {
            this.prot = Objects.requireNonNull(prot, "prot");
            return this;
        }

        /**
         * Requests extra alignment of IOVAs, blocks and length.
         *
         * @param alignment a power of two
         * @return this builder
         */
        public Builder alignment(long alignment) {
            this.alignment = alignment;
            return this;
        }

        /**
         * Requests the same IOVA in every domain.
         *
         * @param identical true for one IOVA everywhere
         * @return this builder
         */
        public Builder identicalIova(boolean identical) {
            this.identicalIova = identical;
            return this;
        }

        /**
         * Declares domains the buffer will be shared with later.
         *
         * @param domains the future domains: open paging domains
         * @return this builder
         * @throws NullPointerException if a domain is null
         * @throws InvalidArgumentException if a domain is not a paging domain
         * @throws ObjectClosedException if a domain is closed
         */
        public Builder futureDomains(IommuDomain... domains) {
            for (IommuDomain d : domains) {
                checkFutureDomain(d);
                futureDomains.add(d);
            }
            return this;
        }

        /**
         * Declares the granule of a domain the buffer will be shared with later.
         *
         * @param granule a power of two
         * @return this builder
         */
        public Builder futureGranule(long granule) {
            this.futureGranule = granule;
            return this;
        }

        /**
         * Builds the options.
         *
         * @return the options
         * @throws InvalidArgumentException if a value is invalid
         */
        public ShareOptions build() {
            return new ShareOptions(prot, alignment, identicalIova, futureDomains, futureGranule);
        }
    }
}
