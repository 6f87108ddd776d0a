package org.dmashare.amd;

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
 * The {@code amd-v1} backend: AMD-Vi IOMMUs with v1 host page tables (see {@link AmdV1Format}).
 *
 * <p>One variant, {@code v1}. Defaults: 16 streams (device IDs, 1..256 accepted), a 48-bit input
 * width (modes up to 4, as EFR[HATS] = 0 gives; 32..62 accepted: 57 allows mode 5, above it mode
 * 6), a 52-bit output width (0 or 52 accepted). Options: {@code start-mode} (1..the largest mode,
 * default 3 as Linux) and {@code bypass=true} to allow identity domains (DTE mode 0).
 */
@AutoService(IommuBackend.class)
public final class AmdBackend implements IommuBackend {
    /** The backend's name. */
    public static final String NAME = "amd-v1";
    /** Streams when the configuration says 0. */
    public static final int DEFAULT_STREAMS = 16;
    /** Input width when the configuration says 0. */
    public static final int DEFAULT_INPUT_BITS = 48;
    /** The mode Linux starts every domain in. */
    public static final int DEFAULT_START_MODE = 3;

    private static final int MAX_STREAMS = 256;
    private static final Set<String> OPTIONS = Set.of("start-mode", "bypass");
    private static final List<Variant> VARIANTS = List.of(new Variant(
            "v1",
            1L << 12,
            new AmdV1Format(DEFAULT_INPUT_BITS, DEFAULT_START_MODE).pageSizes(),
            "AMD-Vi v1 host tables: every power of two from 4 KiB except 512 GiB, modes 1..6, growing top"));

    /** Creates the backend; {@link java.util.ServiceLoader} calls this. */
    public AmdBackend() {}

    @Override
    public String name() {
        return NAME;
    }

    @Override
    public List<Variant> variants() {
        return VARIANTS;
    }

    /**
     * Creates an AMD-Vi unit.
     *
     * @param config variant {@code v1}, streams (1..256), input bits (32..62), output bits (0 or
     *     52), options {@code start-mode} and {@code bypass}
     * @param memory the memory it translates to
     * @return the unit, every device blocked
     * @throws InvalidArgumentException if a setting is out of range or an option unknown
     */
    @Override
    public Iommu create(IommuConfig config, PhysicalMemory memory) {
        Objects.requireNonNull(config, "config");
        Objects.requireNonNull(memory, "memory");
        Variant variant = variant(config.variant());
        config.requireKnownOptions(NAME, OPTIONS);
        int streams = config.streamsOr("backend " + NAME, DEFAULT_STREAMS, MAX_STREAMS);
        if (config.outputBits() != 0 && config.outputBits() != 52) {
            throw new InvalidArgumentException("backend " + NAME + " has a 52-bit output width; got output bits "
                    + config.outputBits() + " (accepted: 0 or 52)");
        }
        int ias = config.inputBits() == 0 ? DEFAULT_INPUT_BITS : config.inputBits();
        String start = config.option("start-mode").orElse(Integer.toString(DEFAULT_START_MODE));
        int startMode;
        try {
            startMode = Integer.parseInt(start);
        } catch (NumberFormatException e) {
            throw new InvalidArgumentException(
                    "backend " + NAME + " option start-mode must be a number 1..6, got '" + start + "'");
        }
        AmdV1Format format = new AmdV1Format(ias, startMode);
        return new AmdIommu(variant, config.name(), memory, streams, format, config.flag("bypass", false));
    }

    @Override
    public String toString() {
        return "IommuBackend[" + NAME + "]";
    }
}
