package org.dmashare.iommu;

import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.Objects;
import java.util.ServiceConfigurationError;
import java.util.ServiceLoader;
import org.dmashare.InvalidArgumentException;

/**
 * Discovery of {@link IommuBackend}s with {@link ServiceLoader}, on the class path and the module
 * path. Each call loads afresh; results are sorted by name.
 */
public final class IommuBackends {
    private IommuBackends() {}

    /**
     * Every backend visible to this library's class loader (and the module layer).
     *
     * @return backends sorted by name
     * @throws InvalidArgumentException if two backends share a name; the message names it and both
     *     implementing classes with where each was loaded from
     * @throws ServiceConfigurationError if a provider cannot be instantiated; the error names it
     */
    public static List<IommuBackend> available() {
        return collect(ServiceLoader.load(IommuBackend.class, IommuBackend.class.getClassLoader()));
    }

    /**
     * Every backend visible to {@code loader}.
     *
     * @param loader where to look for providers
     * @return backends sorted by name
     * @throws InvalidArgumentException if two backends share a name; the message names it and both
     *     implementing classes with where each was loaded from
     * @throws ServiceConfigurationError if a provider cannot be instantiated; the error names it
     */
    public static List<IommuBackend> available(ClassLoader loader) {
        return collect(ServiceLoader.load(IommuBackend.class, Objects.requireNonNull(loader, "loader")));
    }

    /**
     * Every backend provided by modules of {@code layer} and its parents.
     *
     * @param layer the module layer
     * @return backends sorted by name
     * @throws InvalidArgumentException if two backends share a name; the message names it and both
     *     implementing classes with where each was loaded from
     * @throws ServiceConfigurationError if a provider cannot be instantiated; the error names it
     */
    public static List<IommuBackend> available(ModuleLayer layer) {
        return collect(ServiceLoader.load(Objects.requireNonNull(layer, "layer"), IommuBackend.class));
    }

    /**
     * The backend called {@code name}, among those visible to this library's class loader.
     *
     * @param name for example {@code generic}
     * @return the backend
     * @throws InvalidArgumentException if none has that name (the message lists what was found),
     *     or if two backends share any name, this one or another, since the backends found are then
     *     ambiguous (the message names the shared name and both implementing classes)
     * @throws ServiceConfigurationError if a provider cannot be instantiated; the error names it
     */
    public static IommuBackend find(String name) {
        return pick(name, available());
    }

    /**
     * The backend called {@code name}, among those visible to {@code loader}.
     *
     * @param name for example {@code generic}
     * @param loader where to look for providers
     * @return the backend
     * @throws InvalidArgumentException if none has that name (the message lists what was found),
     *     or if two backends share any name, this one or another, since the backends found are then
     *     ambiguous (the message names the shared name and both implementing classes)
     * @throws ServiceConfigurationError if a provider cannot be instantiated; the error names it
     */
    public static IommuBackend find(String name, ClassLoader loader) {
        return pick(name, available(loader));
    }

    private static IommuBackend pick(String name, List<IommuBackend> found) {
        Objects.requireNonNull(name, "name");
        for (IommuBackend b : found) {
            if (b.name().equals(name)) {
                return b;
            }
        }
        throw new InvalidArgumentException("no IOMMU backend named '" + name + "'; found "
                + (found.isEmpty()
                        ? "none (is a backend jar on the class or module path?)"
                        : found.stream().map(IommuBackend::name).toList()));
    }

    /**
     * The provider's class and where it was loaded from, so that one class found twice (say in a
     * parent and a child module layer) is told apart.
     */
    private static String origin(IommuBackend b) {
        Class<?> c = b.getClass();
        Module m = c.getModule();
        return c.getName() + " (" + (m.isNamed() ? "module " + m.getName() : "class path") + ", loader "
                + c.getClassLoader() + ")";
    }

    private static List<IommuBackend> collect(ServiceLoader<IommuBackend> loader) {
        List<IommuBackend> out = new ArrayList<>();
        for (IommuBackend b : loader) {
            for (IommuBackend seen : out) {
                if (seen.name().equals(b.name())) {
                    throw new InvalidArgumentException(
                            "two IOMMU backends are named '" + b.name() + "': " + origin(seen) + " and " + origin(b));
                }
            }
            out.add(b);
        }
        out.sort(Comparator.comparing(IommuBackend::name));
        return List.copyOf(out);
    }
}
