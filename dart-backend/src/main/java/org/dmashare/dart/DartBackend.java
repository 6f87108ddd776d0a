package org.dmashare.dart;

import com.google.auto.service.AutoService;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Collections;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.Set;
import java.util.WeakHashMap;
import org.dmashare.Hex;
import org.dmashare.InvalidArgumentException;
import org.dmashare.PhysicalMemoryExhaustedException;
import org.dmashare.iommu.IommuBackend;
import org.dmashare.iommu.IommuConfig;
import org.dmashare.memory.PageAllocator;
import org.dmashare.memory.PageUse;
import org.dmashare.memory.PhysicalMemory;

/**
 * The {@code apple-dart} backend: Apple DART IOMMUs, variants {@code t8020} (default),
 * {@code t6000} and {@code t8110} (see {@link DartVariant}).
 *
 * <p>Configuration: streams 1..16 (t8020, t6000; default 16) or 1..256 (t8110; default 256);
 * input bits 32 (t8020, t6000) or 32..47 (t8110, default 36); output bits 36 (t8020), 42 (t6000),
 * 36 or 42 (t8110, default 42). Options: {@code bypass=true} sets PARAMS2 bit 0 so identity
 * domains can be created; {@code locked=true} is accepted only by {@link #restore}, since a locked
 * DART needs the firmware's registers and tables.
 *
 * <p>A DART created with {@link #create} is reset as Linux's probe does (every stream blocked).
 * {@link #restore} instead builds one from a {@link DartDump} — a dump of another instance, or the
 * firmware state that {@link DartFirmware} builds — and, with {@code locked=true}, locks it.
 */
@AutoService(IommuBackend.class)
public final class DartBackend implements IommuBackend {
    /** The backend's name. */
    public static final String NAME = "apple-dart";

    private static final Set<String> OPTIONS = Set.of("bypass", "locked");
    private static final List<Variant> VARIANTS =
            Arrays.stream(DartVariant.values()).map(DartVariant::spiVariant).toList();

    /** Creates the backend; {@link java.util.ServiceLoader} calls this. */
    public DartBackend() {}

    @Override
    public String name() {
        return NAME;
    }

    @Override
    public List<Variant> variants() {
        return VARIANTS;
    }

    /**
     * Creates a DART, reset: every stream enabled and blocked, no TTBR valid.
     *
     * @param config variant, name, streams, widths, option {@code bypass}
     * @param memory the memory it translates to and keeps tables in
     * @return the {@link DartIommu}
     * @throws InvalidArgumentException if a setting is out of range, an option unknown, or
     *     {@code locked=true} (use {@link #restore})
     */
    @Override
    public DartIommu create(IommuConfig config, PhysicalMemory memory) {
        Objects.requireNonNull(config, "config");
        Objects.requireNonNull(memory, "memory");
        config.requireKnownOptions(NAME, OPTIONS);
        if (config.flag("locked", false)) {
            throw new InvalidArgumentException("DART " + config.name() + ": locked=true needs the firmware's TTBR, TCR"
                    + " and tables; create it with DartBackend.restore(dump, config, memory), for example from"
                    + " DartFirmware.dump()");
        }
        return registered(build(config, memory, true), memory);
    }

    /** The DARTs built over each memory and still reachable: their table pages are theirs alone. */
    private static final Map<PhysicalMemory, Set<DartIommu>> LIVE = new WeakHashMap<>();

    private static DartIommu registered(DartIommu dart, PhysicalMemory memory) {
        synchronized (LIVE) {
            LIVE.computeIfAbsent(memory, m -> Collections.newSetFromMap(new WeakHashMap<>()))
                    .add(dart);
        }
        return dart;
    }

    /** The table pages (as in their dumps) of every live DART over {@code memory}, and whose they are. */
    private static Map<Long, DartIommu> liveTablePages(PhysicalMemory memory) {
        List<DartIommu> darts;
        synchronized (LIVE) {
            darts = new ArrayList<>(LIVE.getOrDefault(memory, Set.of()));
        }
        Map<Long, DartIommu> pages = new HashMap<>();
        for (DartIommu dart : darts) {
            for (long pa : dart.dump().memory().keySet()) {
                pages.put(pa, dart);
            }
        }
        return pages;
    }

    /**
     * Creates a DART whose registers and tables come from {@code dump}: the dump's pages are
     * written into {@code memory} (claimed from its page allocator as page tables when they are
     * free, so nothing else is allocated over them, and never freed; pages already allocated as
     * page tables, such as tables {@link DartFirmware} built in the same memory, are taken as
     * they are), every stream is
     * enabled, the TTBR and TCR values are programmed as they are, and with option
     * {@code locked=true} the lock bit is then set (CONFIG bit 15, or t8110 PROTECT bit 0). No
     * reset is done. Use it to model a DART the boot firmware left programmed (and locked), or to
     * load a dump back.
     *
     * @param dump registers and table pages; its variant must be the configuration's
     * @param config variant, name, streams, widths, options {@code bypass} and {@code locked}
     * @param memory the memory; must hold every page of the dump
     * @return the DART
     * @throws InvalidArgumentException if the dump does not fit the configuration or memory, or
     *     names a table page of a DART that is still live over the same memory (its own dump);
     *     nothing is changed
     * @throws org.dmashare.PhysicalMemoryExhaustedException if a page of the dump lies in memory
     *     already allocated for something else; nothing is changed
     */
    public DartIommu restore(DartDump dump, IommuConfig config, PhysicalMemory memory) {
        Objects.requireNonNull(dump, "dump");
        Objects.requireNonNull(config, "config");
        Objects.requireNonNull(memory, "memory");
        if (!dump.variant().equals(config.variant())) {
            throw new InvalidArgumentException("dump of a " + dump.variant() + " DART cannot restore a "
                    + config.variant() + " DART; use a configuration of variant " + dump.variant());
        }
        for (Map.Entry<Long, byte[]> page : dump.memory().entrySet()) {
            if (!memory.contains(page.getKey(), DartPteFormat.GRANULE)) {
                throw new InvalidArgumentException("dump page " + Hex.of(page.getKey()) + " lies outside memory "
                        + Hex.range(memory.base(), memory.size()));
            }
        }
        DartIommu dart = build(config, memory, false);
        dart.checkFirmware(dump);
        long block = Math.max(DartPteFormat.GRANULE, memory.pageSize());
        List<PageAllocator.Block> live = memory.allocator().allocatedBlocks();
        List<Long> claimed = new ArrayList<>();
        Map<Long, DartIommu> liveTables = null;
        try {
            for (long pa : dump.memory().keySet()) {
                PageAllocator.Block owner = null;
                for (PageAllocator.Block b : live) {
                    if (pa < b.pa() + b.size() && pa + DartPteFormat.GRANULE > b.pa()) {
                        owner = b;
                        break;
                    }
                }
                if (owner == null) {
                    claimed.add(memory.allocator()
                            .allocateAt(pa & -block, block, PageUse.PAGE_TABLE)
                            .pa());
                } else if (owner.use() != PageUse.PAGE_TABLE) {
                    throw new PhysicalMemoryExhaustedException("dump page " + Hex.of(pa) + " lies in " + owner
                            + ", which is not a page table; restore it into memory where that page is free or"
                            + " holds the firmware's tables");
                } else {
                    liveTables = liveTables != null ? liveTables : liveTablePages(memory);
                    DartIommu user = liveTables.get(pa);
                    if (user != null) {
                        throw new InvalidArgumentException(
                                "dump page " + Hex.of(pa) + " is a table page of the live DART "
                                        + user.name()
                                        + "; two units must not share tables (a change through one would rewrite"
                                        + " the other's translations). Restore into other memory, or from the firmware's tables");
                    }
                }
            }
        } catch (RuntimeException e) {
            for (long pa : claimed) {
                memory.allocator().free(pa, block);
            }
            throw e;
        }
        for (Map.Entry<Long, byte[]> page : dump.memory().entrySet()) {
            memory.write(page.getKey(), page.getValue());
        }
        dart.programFirmware(dump);
        if (config.flag("locked", false)) {
            dart.lock();
        }
        return registered(dart, memory);
    }

    private DartIommu build(IommuConfig config, PhysicalMemory memory, boolean reset) {
        config.requireKnownOptions(NAME, OPTIONS);
        DartVariant v = DartVariant.of(variant(config.variant()).name());
        int streams = config.streamsOr("DART " + v.id(), v.maxStreams(), v.maxStreams());
        int ias = config.inputBits() == 0 ? v.defaultInputBits() : config.inputBits();
        int oas = config.outputBits() == 0 ? v.defaultOutputBits() : config.outputBits();
        if (v.t8110Registers()) {
            if (ias < 32 || ias > 47 || (oas != 36 && oas != 42)) {
                throw new InvalidArgumentException(
                        "DART t8110 accepts input bits 32..47 and output bits 36 or 42, got ias " + ias + ", oas "
                                + oas);
            }
        } else if (ias != v.defaultInputBits() || oas != v.defaultOutputBits()) {
            throw new InvalidArgumentException("DART " + v.id() + " has input bits " + v.defaultInputBits()
                    + " and output bits " + v.defaultOutputBits() + " (0 means that), got ias " + ias + ", oas " + oas);
        }
        boolean bypass = config.flag("bypass", false);
        config.flag("locked", false);
        return new DartIommu(v, config.name(), memory, streams, ias, oas, bypass, reset);
    }

    @Override
    public String toString() {
        return "IommuBackend[" + NAME + "]";
    }
}
