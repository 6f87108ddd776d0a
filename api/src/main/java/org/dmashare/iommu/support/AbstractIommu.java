package org.dmashare.iommu.support;

import java.util.ArrayDeque;
import java.util.List;
import java.util.Objects;
import java.util.Optional;
import org.dmashare.Hex;
import org.dmashare.InvalidArgumentException;
import org.dmashare.internal.GuardedBy;
import org.dmashare.iommu.Access;
import org.dmashare.iommu.DeviceFaultException;
import org.dmashare.iommu.DmaDevice;
import org.dmashare.iommu.DomainType;
import org.dmashare.iommu.Iommu;
import org.dmashare.iommu.IommuBackend;
import org.dmashare.iommu.IommuDomain;
import org.dmashare.iommu.IommuFault;
import org.dmashare.iommu.Translation;
import org.dmashare.memory.PhysicalMemory;
import org.dmashare.pgtable.PageTableWalker;

/**
 * The parts every IOMMU unit shares: streams and their devices, the fault log, the IOTLB and the
 * device DMA path (IOTLB lookup, else a hardware walk, then the protection check). A backend
 * supplies the hardware: how a stream is programmed when a domain is attached
 * ({@link #programStream}), how the hardware walks from a stream's registers
 * ({@link #hardwareWalk}), paging domains ({@link #createPagingDomain()}) and, optionally, fault
 * names and error registers ({@link #faultCode}, {@link #onFault}).
 */
public abstract class AbstractIommu implements Iommu {
    /** Faults kept in the log; older ones are dropped, as a hardware error FIFO would. */
    public static final int FAULT_LOG_CAPACITY = 1024;
    /** IOTLB entries kept per stream before that stream's cache is emptied. */
    public static final int IOTLB_CAPACITY = 1 << 16;

    private final String backend;
    private final IommuBackend.Variant variant;
    private final String name;
    private final PhysicalMemory memory;
    private final int inputBits;
    private final int outputBits;
    private final StreamDevice[] devices;
    private final Iotlb iotlb;

    @GuardedBy("faults")
    private final ArrayDeque<IommuFault> faults = new ArrayDeque<>();

    /**
     * Creates the unit.
     *
     * @param backend the backend's name
     * @param variant the variant modelled
     * @param name the instance name
     * @param memory the memory it translates to
     * @param streams number of stream IDs, at least 1
     * @param inputBits IOVA width
     * @param outputBits physical address width
     */
    protected AbstractIommu(
            String backend,
            IommuBackend.Variant variant,
            String name,
            PhysicalMemory memory,
            int streams,
            int inputBits,
            int outputBits) {
        this.backend = Objects.requireNonNull(backend, "backend");
        this.variant = Objects.requireNonNull(variant, "variant");
        this.name = Objects.requireNonNull(name, "name");
        this.memory = Objects.requireNonNull(memory, "memory");
        if (streams < 1) {
            throw new InvalidArgumentException("an IOMMU needs at least one stream, got " + streams);
        }
        this.inputBits = inputBits;
        this.outputBits = outputBits;
        this.devices = new StreamDevice[streams];
        for (int i = 0; i < streams; i++) {
            devices[i] = new StreamDevice(this, i);
        }
        this.iotlb = new Iotlb(streams, Long.numberOfTrailingZeros(variant.granule()), IOTLB_CAPACITY);
    }

    @Override
    public final String name() {
        return name;
    }

    @Override
    public final String backend() {
        return backend;
    }

    @Override
    public final IommuBackend.Variant variant() {
        return variant;
    }

    @Override
    public final PhysicalMemory memory() {
        return memory;
    }

    @Override
    public final int streamCount() {
        return devices.length;
    }

    @Override
    public final int inputBits() {
        return inputBits;
    }

    @Override
    public final int outputBits() {
        return outputBits;
    }

    @Override
    public IommuDomain createDomain(DomainType type) {
        Objects.requireNonNull(type, "type");
        switch (type) {
            case PAGING:
                return createPagingDomain();
            case BLOCKED:
                return new FixedDomain(this, type);
            default:
                if (!supportsBypass()) {
                    throw new InvalidArgumentException(name + " (" + backend + " " + variant.name()
                            + ") does not support identity (bypass) domains");
                }
                return new FixedDomain(this, type);
        }
    }

    /**
     * Creates an empty paging domain of this unit.
     *
     * @return the domain
     */
    protected abstract PagingDomain createPagingDomain();

    /**
     * Whether this unit can pass physical addresses through (identity domains). Default: no.
     *
     * @return true if bypass is supported
     */
    protected boolean supportsBypass() {
        return false;
    }

    @Override
    public final DmaDevice device(int streamId) {
        checkStream(streamId);
        return devices[streamId];
    }

    /**
     * Throws if {@code streamId} is out of range.
     *
     * @param streamId the stream
     * @throws InvalidArgumentException if not in {@code 0 .. streamCount()-1}
     */
    protected final void checkStream(int streamId) {
        if (streamId < 0 || streamId >= devices.length) {
            throw new InvalidArgumentException("stream " + streamId + " does not exist on " + name
                    + "; it has streams 0.." + (devices.length - 1));
        }
    }

    @Override
    public final Optional<Translation> walk(int streamId, long iova) {
        checkStream(streamId);
        PageTableWalker.Result r = hardwareWalk(streamId, iova);
        return Optional.ofNullable(r.translation());
    }

    /**
     * Programs stream {@code streamId}'s registers for {@code domain} (translate through its
     * tables, bypass, or block), as the driver's attach does. Called with the unit's lock held,
     * before the stream's IOTLB entries are invalidated.
     *
     * @param streamId the stream
     * @param domain the new domain, or null to block the stream
     */
    protected abstract void programStream(int streamId, BaseDomain domain);

    /**
     * Walks the tables as the hardware does for {@code streamId}: from the stream's translation
     * registers (not from any software object) through memory. Identity streams translate to the
     * IOVA itself; blocked streams fail with {@link IommuFault.Reason#BLOCKED}. A leaf that limits
     * access to part of its page returns that window in the {@link Translation}; the DMA path then
     * faults every access outside it with {@link IommuFault.Reason#SUBPAGE}.
     *
     * @param streamId the stream
     * @param iova the address
     * @return the outcome
     */
    protected abstract PageTableWalker.Result hardwareWalk(int streamId, long iova);

    /**
     * The backend's name for a fault, for example the DART error bit. Default: the reason's name
     * with the level.
     *
     * @param reason why the access failed
     * @param level the walk level at which it failed (-1 if none)
     * @param access the access
     * @return the code
     */
    protected String faultCode(IommuFault.Reason reason, int level, Access access) {
        return level >= 0 && reason == IommuFault.Reason.TRANSLATION ? reason + "_L" + level : reason.toString();
    }

    /**
     * Called after a fault is logged, for backends that model error registers. Default: nothing.
     *
     * @param fault the fault
     * @param level the walk level at which it failed (-1 if none)
     */
    protected void onFault(IommuFault fault, int level) {}

    /**
     * Invalidates the IOTLB entries of the given streams, as the hardware's invalidation command
     * does. Backends that model invalidation registers override this and call super.
     *
     * @param streamIds the streams, sorted
     */
    protected void invalidate(int[] streamIds) {
        for (int sid : streamIds) {
            iotlb.invalidate(sid);
        }
    }

    /** Invalidates every IOTLB entry of every stream. */
    public void flushIotlbAll() {
        iotlb.invalidateAll();
    }

    @Override
    public final int iotlbSize() {
        return iotlb.size();
    }

    @Override
    public final List<IommuFault> faults() {
        synchronized (faults) {
            return List.copyOf(faults);
        }
    }

    @Override
    public void clearFaults() {
        synchronized (faults) {
            faults.clear();
        }
    }

    // ---- device side ----

    synchronized void attach(StreamDevice device, BaseDomain domain) {
        if (domain != null) {
            if (domain.iommu() != this) {
                throw new InvalidArgumentException("cannot attach stream " + device.streamId() + " of " + name + " to "
                        + domain + ": the domain belongs to another IOMMU");
            }
            domain.checkOpen();
        }
        BaseDomain old = device.current();
        if (old != null) {
            old.detached(device);
        }
        programStream(device.streamId(), domain);
        device.setCurrent(domain);
        if (domain != null) {
            domain.attached(device);
        }
        invalidate(new int[] {device.streamId()});
    }

    /**
     * The DMA path for {@code length} bytes at {@code iova}, all inside one granule page: IOTLB,
     * else a walk, then the protection check and the leaf's access window (sub-page protection);
     * faults are logged and thrown.
     */
    final long translate(int sid, long iova, long length, Access access) {
        long generation = iotlb.generation(sid);
        Translation t = iotlb.lookup(sid, iova);
        if (t == null) {
            PageTableWalker.Result r = hardwareWalk(sid, iova);
            if (!r.ok()) {
                throw fault(sid, iova, access, r.reason(), r.level());
            }
            t = r.translation();
            iotlb.fill(sid, t, generation); // not cached if a flush came after the walk began
            return checked(sid, iova, length, access, t, t.pa());
        }
        return checked(sid, iova, length, access, t, t.pa() + (iova - t.iova()));
    }

    private long checked(int sid, long iova, long length, Access access, Translation t, long pa) {
        if (!t.prot().allows(access)) {
            throw fault(sid, iova, access, IommuFault.Reason.PERMISSION, -1);
        }
        if (!t.windowAllows(iova, Math.max(1, length))) {
            throw fault(sid, iova, access, IommuFault.Reason.SUBPAGE, -1);
        }
        return pa;
    }

    private DeviceFaultException fault(int sid, long iova, Access access, IommuFault.Reason reason, int level) {
        IommuFault f = new IommuFault(name, sid, iova, access, reason, faultCode(reason, level, access));
        synchronized (faults) {
            if (faults.size() == FAULT_LOG_CAPACITY) {
                faults.removeFirst();
            }
            faults.addLast(f);
        }
        onFault(f, level);
        return new DeviceFaultException(f);
    }

    @Override
    public String toString() {
        return backend + " " + variant.name() + " IOMMU '" + name + "' (" + devices.length + " streams, ias "
                + inputBits + ", oas " + outputBits + ", granule " + Hex.size(variant.granule()) + ")";
    }
}
