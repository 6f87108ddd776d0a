package org.dmashare.v7s;

import com.google.auto.service.AutoService;
import java.util.List;
import java.util.Objects;
import java.util.Set;
import org.dmashare.InvalidArgumentException;
import org.dmashare.iommu.Iommu;
import org.dmashare.iommu.IommuBackend;
import org.dmashare.iommu.IommuConfig;
import org.dmashare.memory.PhysicalMemory;

/**
 * The {@code arm-v7s} backend: ARM v7 short-descriptor IOMMUs as Linux's io-pgtable-arm-v7s
 * drives them (see {@link V7sFormat}).
 *
 * <p>One variant, {@code v7s} (4K|64K|1M|16M). Defaults: 16 streams (1..256 accepted); input
 * and output address sizes are 32 bits (0 or 32 accepted). Options: {@code ns=true} for the
 * ARM_NS quirk's non-secure bits, {@code bypass=true} to allow identity domains. The unit
 * reaches only memory below 4 GiB.
 */
@AutoService(IommuBackend.class)
public final class V7sBackend implements IommuBackend {
    /** The backend's name. */
    public static final String NAME = "arm-v7s";
    /** Streams when the configuration says 0. */
    public static final int DEFAULT_STREAMS = 16;

    private static final int MAX_STREAMS = 256;
    private static final Set<String> OPTIONS = Set.of("ns", "bypass");
    private static final List<Variant> VARIANTS = List.of(new Variant(
            "v7s",
            V7sFormat.SMALL,
            V7sFormat.PAGE_SIZES,
            "ARM v7 short descriptors: 32-bit IOVA and PA, 4K|64K|1M|16M, 1 KiB level-2 tables"));

    /** Creates the backend; {@link java.util.ServiceLoader} calls this. */
    public V7sBackend() {}

    @Override
    public String name() {
        return NAME;
    }

    @Override
    public List<Variant> variants() {
        return VARIANTS;
    }

    /**
     * Creates an ARM v7s unit.
     *
     * @param config variant {@code v7s}, streams (1..256), input and output bits (0 or 32),
     *     options {@code ns} and {@code bypass}
     * @param memory the memory it translates to; only addresses below 4 GiB are reachable
     * @return the unit, every stream blocked
     * @throws InvalidArgumentException if a setting is out of range or an option unknown
     */
    @Override
    public Iommu create(IommuConfig config, PhysicalMemory memory) {
        Objects.requireNonNull(config, "config");
        Objects.requireNonNull(memory, "memory");
        Variant variant = variant(config.variant());
        config.requireKnownOptions(NAME, OPTIONS);
        int streams = config.streamsOr("backend " + NAME, DEFAULT_STREAMS, MAX_STREAMS);
        for (int bits : new int[] {config.inputBits(), config.outputBits()}) {
            if (bits != 0 && bits != 32) {
                throw new InvalidArgumentException("backend " + NAME + " translates 32-bit IOVAs to 32-bit physical"
                        + " addresses; got input bits " + config.inputBits() + ", output bits " + config.outputBits()
                        + " (accepted: 0 or 32)");
            }
        }
        V7sFormat format = new V7sFormat(config.flag("ns", false));
        return new V7sIommu(variant, config.name(), memory, streams, format, config.flag("bypass", false));
    }

    @Override
    public String toString() {
        return "IommuBackend[" + NAME + "]";
    }
}
