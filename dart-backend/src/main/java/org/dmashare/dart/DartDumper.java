package org.dmashare.dart;

import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import java.util.function.IntConsumer;
import org.dmashare.Hex;
import org.dmashare.InvalidArgumentException;
import org.dmashare.memory.PhysicalMemory;

/**
 * Reads a DART's registers and reachable table pages into a {@link DartDump}, and checks that a
 * dump fits a DART before it is programmed.
 *
 * <p>Not thread-safe: {@link DartIommu} calls it with its monitor (the unit lock) held.
 */
final class DartDumper {
    private final DartRegisterFile regs;
    private final PhysicalMemory memory;
    private final DartPteFormat format;

    DartDumper(DartRegisterFile regs, PhysicalMemory memory, DartPteFormat format) {
        this.regs = regs;
        this.memory = memory;
        this.format = format;
    }

    /**
     * The registers of every stream in use (non-zero TCR or TTBR) and every table page reachable
     * from the TTBRs of the streams that translate.
     */
    DartDump dump(String variant, int streams) {
        DartLayout layout = regs.layout();
        Map<Integer, List<Long>> ttbr = new TreeMap<>();
        Map<Integer, Long> tcrs = new TreeMap<>();
        Map<Long, byte[]> pages = new TreeMap<>();
        for (int sid = 0; sid < streams; sid++) {
            int tcr = regs.tcr(sid);
            boolean used = tcr != 0;
            List<Long> values = new ArrayList<>();
            for (int i = 0; i < layout.ttbr().count(); i++) {
                int v = regs.ttbr(sid, i);
                used |= v != 0;
                values.add(v & 0xffff_ffffL);
            }
            if (!used) {
                continue;
            }
            ttbr.put(sid, values);
            tcrs.put(sid, tcr & 0xffff_ffffL);
            if ((tcr & layout.tcr().translate()) == 0) {
                continue;
            }
            int levels = layout.tcr().levels(tcr);
            for (long v : values) {
                long root = layout.ttbr().decode((int) v);
                if (root >= 0) {
                    collect(root, 0, levels, pages);
                }
            }
        }
        return new DartDump(variant, ttbr, tcrs, pages);
    }

    private void collect(long table, int level, int levels, Map<Long, byte[]> pages) {
        if (pages.containsKey(table) || !memory.contains(table, DartPteFormat.GRANULE)) {
            return;
        }
        pages.put(table, memory.read(table, (int) DartPteFormat.GRANULE));
        if (level == levels - 1) {
            return;
        }
        for (int i = 0; i < (1 << DartPteFormat.BITS_PER_LEVEL); i++) {
            long pte = memory.readLong(table + 8L * i);
            if (DartPteFormat.isValid(pte)) {
                collect(format.decodeAddress(pte), level + 1, levels, pages);
            }
        }
    }

    /**
     * Refuses firmware state that does not fit this DART (streams, TTBR count, 32-bit values).
     *
     * @param streamCheck throws for a stream the DART does not have
     */
    void check(DartDump dump, String variant, IntConsumer streamCheck) {
        int count = regs.layout().ttbr().count();
        for (Map.Entry<Integer, List<Long>> e : dump.ttbr().entrySet()) {
            streamCheck.accept(e.getKey());
            List<Long> values = e.getValue();
            if (values.size() != count) {
                throw new InvalidArgumentException("dump lists " + values.size() + " TTBRs for stream " + e.getKey()
                        + "; " + variant + " has " + count + " per stream");
            }
            for (long v : values) {
                checkRegisterValue(v, "TTBR of stream " + e.getKey());
            }
        }
        for (Map.Entry<Integer, Long> e : dump.tcr().entrySet()) {
            streamCheck.accept(e.getKey());
            checkRegisterValue(e.getValue(), "TCR of stream " + e.getKey());
        }
    }

    private static void checkRegisterValue(long v, String what) {
        if (v < 0 || v > 0xffff_ffffL) {
            throw new InvalidArgumentException(what + " " + Hex.of(v) + " refused: registers hold 32-bit values");
        }
    }
}
