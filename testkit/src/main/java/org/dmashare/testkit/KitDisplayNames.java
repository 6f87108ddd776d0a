package org.dmashare.testkit;

import java.lang.reflect.Method;
import java.util.List;
import org.junit.jupiter.api.DisplayNameGenerator;

/** Names each kit check after the rule it proves ({@link Checks}): its ID, then its statement. */
final class KitDisplayNames extends DisplayNameGenerator.Standard {

    /** Created by JUnit. */
    KitDisplayNames() {}

    @Override
    public String generateDisplayNameForMethod(
            List<Class<?>> enclosingInstanceTypes, Class<?> testClass, Method testMethod) {
        Checks checks = testMethod.getAnnotation(Checks.class);
        return checks != null
                ? checks.value().displayName()
                : super.generateDisplayNameForMethod(enclosingInstanceTypes, testClass, testMethod);
    }
}
