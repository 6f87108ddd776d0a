package org.dmashare.dart;

import java.util.Locale;
import org.dmashare.InvalidArgumentException;
import org.dmashare.iommu.IommuBackend;

/**
 * The DART variants modelled: which PTE format, which register layout, the address sizes and
 * the stream and TTBR counts.
 *
 * <ul>
 *   <li>{@link #T8020}: M1 ({@code apple,t8103-dart}); DART1 entries, t8020 registers, ias 32,
 *       oas 36, 16 streams, four TTBRs per stream.</li>
 *   <li>{@link #T6000}: M1 Pro/Max; DART2 entries, t8020 registers, ias 32, oas 42, 16 streams,
 *       four TTBRs per stream.</li>
 *   <li>{@link #T8110}: M2-era; DART2 entries, t8110 registers, ias 32..47 (default 36; above 36
 *       the walk has an L0 table and TCR.FOUR_LEVEL is set), oas 36 or 42 (default 42), up to 256
 *       streams (default 256), one TTBR per stream.</li>
 * </ul>
 */
public enum DartVariant {
    /** M1: DART1 PTEs, t8020 registers. */
    T8020(false, DartLayout.T8020, 32, 36, "M1 (t8103) DART: DART1 PTEs, t8020 registers, ias 32, oas 36"),
    /** M1 Pro/Max: DART2 PTEs, t8020 registers. */
    T6000(true, DartLayout.T8020, 32, 42, "M1 Pro/Max DART: DART2 PTEs, t8020 registers, ias 32, oas 42"),
    /** M2-era: DART2 PTEs, t8110 registers. */
    T8110(
            true,
            DartLayout.T8110,
            36,
            42,
            "M2-era DART: DART2 PTEs, t8110 registers, ias 32..47 (4-level above 36), oas 36|42, up to 256 streams");

    private final boolean dart2;
    private final DartLayout layout;
    private final int defaultInputBits;
    private final int defaultOutputBits;
    private final String description;

    DartVariant(boolean dart2, DartLayout layout, int ias, int oas, String description) {
        this.dart2 = dart2;
        this.layout = layout;
        this.defaultInputBits = ias;
        this.defaultOutputBits = oas;
        this.description = description;
    }

    /** The register layout: offsets, bits, invalidation style, stream and TTBR counts. */
    DartLayout layout() {
        return layout;
    }

    /**
     * The name used in configurations and dumps: {@code t8020}, {@code t6000}, {@code t8110}.
     *
     * @return the lower-case name
     */
    public String id() {
        return name().toLowerCase(Locale.ROOT);
    }

    /**
     * Looks a variant up by its {@link #id()}.
     *
     * @param id for example {@code t8020}
     * @return the variant
     * @throws InvalidArgumentException if there is none; the message lists the accepted names
     */
    public static DartVariant of(String id) {
        for (DartVariant v : values()) {
            if (v.id().equals(id)) {
                return v;
            }
        }
        throw new InvalidArgumentException("no DART variant '" + id + "'; accepted: t8020, t6000, t8110");
    }

    /**
     * Whether leaves use the DART2 layout ({@link Dart2Format}) rather than DART1.
     *
     * @return true for t6000 and t8110
     */
    public boolean dart2() {
        return dart2;
    }

    /**
     * Whether the register layout is t8110's (one TTBR per stream, TLB_CMD, PROTECT).
     *
     * @return true for t8110
     */
    public boolean t8110Registers() {
        return layout == DartLayout.T8110;
    }

    /**
     * The IOVA width when the configuration says 0.
     *
     * @return 32 or 36
     */
    public int defaultInputBits() {
        return defaultInputBits;
    }

    /**
     * The physical address width when the configuration says 0.
     *
     * @return 36 or 42
     */
    public int defaultOutputBits() {
        return defaultOutputBits;
    }

    /**
     * The largest number of streams, also the default.
     *
     * @return 16 or 256
     */
    public int maxStreams() {
        return layout.streams().count();
    }

    /**
     * TTBR registers per stream.
     *
     * @return 4 (t8020 layout) or 1 (t8110)
     */
    public int ttbrsPerStream() {
        return layout.ttbr().count();
    }

    /**
     * The PTE format for an input size.
     *
     * @param inputBits IOVA width
     * @param outputBits physical address width
     * @return a {@link Dart1Format} or {@link Dart2Format}
     */
    public DartPteFormat format(int inputBits, int outputBits) {
        return dart2 ? new Dart2Format(inputBits, outputBits) : new Dart1Format(inputBits, outputBits);
    }

    /**
     * This variant as the SPI describes it: 16 KiB granule, 16 KiB pages only.
     *
     * @return the SPI variant
     */
    public IommuBackend.Variant spiVariant() {
        return new IommuBackend.Variant(id(), DartPteFormat.GRANULE, DartPteFormat.GRANULE, description);
    }
}
