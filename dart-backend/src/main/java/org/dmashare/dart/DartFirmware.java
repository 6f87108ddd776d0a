package org.dmashare.dart;

import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.TreeMap;
import org.dmashare.iommu.Prot;
import org.dmashare.memory.PhysicalMemory;
import org.dmashare.pgtable.IoPageTable;

/**
 * What boot firmware (iBoot, m1n1) leaves in a DART before the OS starts: per stream a root table
 * behind TTBR0 with its own mappings (for example the framebuffer), and TCR set to translate.
 * Tables are allocated from the memory's page allocator as page tables and are never freed (the
 * firmware owns them). {@link #dump()} gives the state to pass to {@link DartBackend#restore},
 * usually with option {@code locked=true}.
 *
 * <p>Leaves are written whole-page, as m1n1 writes them. Not thread-safe.
 */
public final class DartFirmware {
    private final DartVariant variant;
    private final PhysicalMemory memory;
    private final DartPteFormat format;
    private final Map<Integer, IoPageTable> tables = new TreeMap<>();

    private DartFirmware(DartVariant variant, PhysicalMemory memory, int inputBits) {
        this.variant = variant;
        this.memory = memory;
        this.format = variant.format(inputBits, variant.defaultOutputBits());
    }

    /**
     * Starts firmware state for a variant with its default input size.
     *
     * @param variant the DART variant
     * @param memory where the tables go
     * @return the builder
     */
    public static DartFirmware of(DartVariant variant, PhysicalMemory memory) {
        return of(variant, memory, variant.defaultInputBits());
    }

    /**
     * Starts firmware state with an input size (t8110 above 36 bits: four-level walk).
     *
     * @param variant the DART variant
     * @param memory where the tables go
     * @param inputBits the IOVA width of the firmware's tables
     * @return the builder
     * @throws org.dmashare.InvalidArgumentException if the width is out of range
     */
    public static DartFirmware of(DartVariant variant, PhysicalMemory memory, int inputBits) {
        return new DartFirmware(
                Objects.requireNonNull(variant, "variant"), Objects.requireNonNull(memory, "memory"), inputBits);
    }

    /**
     * Maps a range for a stream in the firmware's tables (creating the stream's root on first use).
     *
     * @param sid the stream
     * @param iova first IOVA, 16 KiB aligned
     * @param pa first physical address, 16 KiB aligned
     * @param size bytes, a multiple of 16 KiB
     * @param prot rights
     * @return this builder
     * @throws org.dmashare.InvalidArgumentException if an argument is out of range
     * @throws org.dmashare.MappingConflictException if the range is already mapped for the stream
     */
    public DartFirmware map(int sid, long iova, long pa, long size, Prot prot) {
        tables.computeIfAbsent(sid, k -> new IoPageTable(memory, format)).map(iova, pa, size, prot);
        return this;
    }

    /**
     * The root table of a stream.
     *
     * @param sid the stream
     * @return its physical address, or -1 if the firmware set nothing up for it
     */
    public long rootPa(int sid) {
        IoPageTable t = tables.get(sid);
        return t == null ? -1 : t.rootPa();
    }

    /**
     * The firmware state: TTBR0 of each stream pointing at its root (the other TTBRs 0), TCR set
     * to translate, and every table page.
     *
     * @return the dump
     */
    public DartDump dump() {
        DartLayout layout = variant.layout();
        Map<Integer, List<Long>> ttbr = new TreeMap<>();
        Map<Integer, Long> tcr = new TreeMap<>();
        Map<Long, byte[]> pages = new TreeMap<>();
        for (Map.Entry<Integer, IoPageTable> e : tables.entrySet()) {
            IoPageTable t = e.getValue();
            List<Long> values = new ArrayList<>();
            long root = t.rootPa();
            values.add(layout.ttbr().encode(root) & 0xffff_ffffL);
            for (int i = 1; i < variant.ttbrsPerStream(); i++) {
                values.add(0L);
            }
            ttbr.put(e.getKey(), values);
            tcr.put(e.getKey(), layout.tcr().translating(format.levels()) & 0xffff_ffffL);
            for (long pa : t.tablePages()) {
                pages.put(pa, memory.read(pa, (int) DartPteFormat.GRANULE));
            }
        }
        return new DartDump(variant.id(), ttbr, tcr, pages);
    }
}
